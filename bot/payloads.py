"""A webhook body, from untrusted bytes to checked values: strict JSON, then each field of each
JSON object read with the type it must have.

A payload is signed, not trusted: a sender with the secret (or a platform bug) can put a list
where a string belongs. The normalizer reads every field through `Fields`, so an Event holds
the types it declares or is not built at all, and the delivery is dead-lettered with one line
naming the field (`issue.number is a string, not an integer`). Values are never quoted in the
message: they can be anything, of any size.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any, TypeVar
from urllib.parse import unquote_to_bytes

# SQLite stores integers in 64 bits; a larger number (an issue number of 30 digits) would make
# every query that binds it fail, so it is refused here, once, rather than in each handler.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1

T = TypeVar("T")


class MalformedPayload(ValueError):
    """The body is not a payload the normalizer can read."""


# In the words of the error messages; bool before int, since a bool is an int to isinstance.
_KINDS = ((bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"), (list, "a list"), (dict, "an object"))


def kind(value: Any) -> str:
    """What a JSON value is: "a list", "null"..."""
    if value is None:
        return "null"
    return next((name for type_, name in _KINDS if isinstance(value, type_)), type(value).__name__)


def text_value(value: Any, where: str) -> str:
    """`value` when it is a string of text; MalformedPayload naming `where` otherwise."""
    if not isinstance(value, str):
        raise MalformedPayload(f"{where} is {kind(value)}, not a string")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:  # JSON's "\ud800" escape allows it; SQLite and the forges do not
            raise MalformedPayload(f"{where} holds a lone surrogate, which is not text") from None
    return value


class Fields:
    """One JSON object of a payload; `path` names it in errors (`issue`, `pull_request.head`).

    A field that is absent or null reads as None (or the default); one of the wrong type raises
    MalformedPayload.
    """

    __slots__ = ("data", "path")

    def __init__(self, data: Any, path: str = "") -> None:
        if not isinstance(data, dict):
            raise MalformedPayload(f"{path or 'the payload'} is {kind(data)}, not an object")
        self.data: dict[str, Any] = data
        self.path = path

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def _wrong(self, key: str, wanted: str) -> MalformedPayload:
        return MalformedPayload(f"{self.where(key)} is {kind(self.data[key])}, not {wanted}")

    def _present(self, key: str, value: T | None) -> T:
        if value is None:
            raise MalformedPayload(f"{self.where(key)} is missing")
        return value

    def string(self, key: str) -> str | None:
        value = self.data.get(key)
        return None if value is None else text_value(value, self.where(key))

    def text(self, key: str) -> str:
        """A string that may be absent or null (a body, a title): "" then."""
        return self.string(key) or ""

    def required_string(self, key: str) -> str:
        return self._present(key, self.string(key))

    def integer(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._wrong(key, "an integer")
        if not INT_MIN <= value <= INT_MAX:
            raise MalformedPayload(f"{self.where(key)} is out of range")
        return value

    def required_integer(self, key: str) -> int:
        return self._present(key, self.integer(key))

    def flag(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is None or isinstance(value, bool):
            return value
        raise self._wrong(key, "a boolean")

    def object(self, key: str) -> Fields | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._wrong(key, "an object")
        return Fields(value, self.where(key))

    def required_object(self, key: str) -> Fields:
        return self._present(key, self.object(key))

    def items(self, key: str) -> list[Any]:
        """A list that may be absent or null: [] then."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._wrong(key, "a list")
        return value

    def objects(self, key: str) -> list[Fields]:
        return [Fields(item, f"{self.where(key)}[{n}]") for n, item in enumerate(self.items(key))]

    def strings(self, key: str) -> tuple[str, ...]:
        return tuple(text_value(item, f"{self.where(key)}[{n}]") for n, item in enumerate(self.items(key)))

    def names(self, key: str, name_key: str) -> tuple[str, ...]:
        """Names from a list of strings, or of objects that have them under `name_key` (labels, users)."""
        return tuple(
            text_value(item, f"{self.where(key)}[{n}]")
            if isinstance(item, str)
            else Fields(item, f"{self.where(key)}[{n}]").required_string(name_key)
            for n, item in enumerate(self.items(key))
        )


def form_payload(body: bytes) -> bytes | None:
    """The `payload` field of a form body, as GitHub and Gitea send it (content type
    application/x-www-form-urlencoded, `payload=<percent-encoded UTF-8 JSON>`): the exact JSON
    bytes, as signed. None when there is no such field."""
    for pair in body.split(b"&"):
        name, _, value = pair.partition(b"=")
        if name == b"payload":
            return unquote_to_bytes(value.replace(b"+", b" "))
    return None


def _json_number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 reads as infinity, which no field can hold
        raise MalformedPayload("body holds a number too large to represent")
    return value


def _json_constant(name: str) -> Any:
    raise MalformedPayload(f"body holds {name}, which is not JSON")


def parse_body(body: bytes, content_type: str) -> dict[str, Any]:
    """Decode a stored body (JSON, or form-encoded `payload=`) into a dict.

    Strict JSON: NaN and Infinity, and numbers that overflow to infinity, are refused, and so
    are integers past Python's digit limit and nesting past its recursion limit.
    """
    try:
        if content_type == "application/x-www-form-urlencoded":
            payload = form_payload(body)
            if payload is None:
                raise MalformedPayload("form body has no payload field")
            body = payload
        # Integers keep the parser's own (fast) conversion; floats and constants are rare.
        data = json.loads(body, parse_float=_json_number, parse_constant=_json_constant)
    except MalformedPayload:
        raise
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedPayload(f"body is not valid JSON: {exc}") from None
    except ValueError:  # the only other one: an integer past sys.get_int_max_str_digits()
        raise MalformedPayload(f"body holds an integer of more than {sys.get_int_max_str_digits()} digits") from None
    except RecursionError:
        raise MalformedPayload("body nests too deeply to be read") from None
    if not isinstance(data, dict):
        raise MalformedPayload("payload is not a JSON object")
    return data
