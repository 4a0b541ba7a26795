"""Request (and, for tests, response) validation against the platforms' own API descriptions.

GitHub: `github-openapi.subset.json` (OpenAPI 3.0, dereferenced). `nullable` becomes a null
alternative and `oneOf` becomes `anyOf` (GitHub's alternatives overlap, e.g. a label given as a
string matches two branches). Gitea: `gitea-swagger.json` (Swagger 2.0 with `$ref`s). Every
property also accepts null, because Go's JSON decoder does; unknown properties are ignored, as Go
ignores them. Validators are built once per operation and cached.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError

from tests.reference import REFERENCE

GITHUB_SPEC = REFERENCE / "github-openapi.subset.json"
GITEA_SPEC = REFERENCE / "gitea-swagger.json"

_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_DROP = {"nullable", "example", "examples", "discriminator", "xml", "externalDocs", "deprecated",
         "readOnly", "writeOnly", "title", "description"}
_RESOURCES = {"issues": "Issue", "repos": "Repository", "pulls": "PullRequest", "git": "Reference",
              "reactions": "Reaction", "apps": "Installation", "checks": "CheckRun", "search": "Search"}
_NOUNS = {"label": "Label", "labels": "Label", "milestone": "Milestone", "comment": "IssueComment",
          "webhook": "Hook", "review": "PullRequestReview", "status": "Status", "protection": "Protection",
          "assignees": "Issue", "collaborator": "Repository", "topics": "Repository"}


def _resource(operation_id: str) -> str:
    tag, _, action = operation_id.partition("/")
    return _NOUNS.get(action.rsplit("-", 1)[-1], _RESOURCES.get(tag, "Resource"))


@dataclass
class Problem:
    field: str
    code: str  # missing_field | invalid
    message: str
    value: Any = None
    expected: str = ""  # the JSON type wanted, for type errors


@dataclass
class Operation:
    operation_id: str
    resource: str
    query: dict[str, tuple[dict[str, Any], Draft4Validator]] = field(default_factory=dict)
    body: Draft4Validator | None = None
    body_required: bool = False
    body_definition: str = ""
    responses: dict[int, Draft4Validator] = field(default_factory=dict)


def _openapi_schema(s: Any) -> Any:
    """OpenAPI 3.0 schema object -> JSON Schema draft 4."""
    if isinstance(s, list):
        return [_openapi_schema(x) for x in s]
    if not isinstance(s, dict):
        return s
    out: dict[str, Any] = {}
    for key, value in s.items():
        if key in _DROP:
            continue
        if key == "properties":
            out[key] = {name: _openapi_schema(v) for name, v in value.items()}
        elif key in _SCHEMA_LISTS:
            out["anyOf" if key == "oneOf" else key] = [_openapi_schema(v) for v in value]
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = _openapi_schema(value)
        else:
            out[key] = value
    if s.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def _swagger_schema(s: Any) -> Any:
    """Swagger 2.0 schema -> JSON Schema draft 4 where every property may be null."""
    if isinstance(s, list):
        return [_swagger_schema(x) for x in s]
    if not isinstance(s, dict):
        return s
    out: dict[str, Any] = {}
    for key, value in s.items():
        if key.startswith("x-") or key in _DROP:
            continue
        if key == "properties":
            out[key] = {n: {"anyOf": [_swagger_schema(v), {"type": "null"}]} for n, v in value.items()}
        elif key in _SCHEMA_LISTS:
            out[key] = [_swagger_schema(v) for v in value]
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _swagger_schema(value)
        else:
            out[key] = value
    return out


@functools.lru_cache(maxsize=None)
def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


@functools.lru_cache(maxsize=None)
def _gitea_definitions() -> dict[str, Any]:
    return {name: _swagger_schema(d) for name, d in _load(GITEA_SPEC)["definitions"].items()}


def _gitea_validator(schema: dict[str, Any]) -> Draft4Validator:
    return Draft4Validator({**_swagger_schema(schema), "definitions": _gitea_definitions()})


@functools.lru_cache(maxsize=None)
def github_operation(method: str, template: str) -> Operation | None:
    op = _load(GITHUB_SPEC)["paths"].get(template, {}).get(method.lower())
    if op is None:
        return None
    result = Operation(op["operationId"], _resource(op["operationId"]))
    for param in op.get("parameters", []):
        if param["in"] == "query":
            schema = _openapi_schema(param.get("schema", {}))
            result.query[param["name"]] = (schema, Draft4Validator(schema))
    body = op.get("requestBody")
    if body and "application/json" in body.get("content", {}):
        result.body = Draft4Validator(_openapi_schema(body["content"]["application/json"]["schema"]))
        result.body_required = bool(body.get("required"))
    for code, resp in op.get("responses", {}).items():
        schema = resp.get("content", {}).get("application/json", {}).get("schema")
        if code.isdigit() and schema is not None:
            result.responses[int(code)] = Draft4Validator(_openapi_schema(schema))
    return result


@functools.lru_cache(maxsize=None)
def gitea_operation(method: str, template: str) -> Operation | None:
    spec = _load(GITEA_SPEC)
    op = spec["paths"].get(template, {}).get(method.lower())
    if op is None:
        return None
    result = Operation(op["operationId"], "")
    for param in op.get("parameters", []):
        if param["in"] == "query":
            schema = {k: v for k, v in param.items()
                      if k in ("type", "items", "enum", "minimum", "maximum", "format")}
            result.query[param["name"]] = (schema, Draft4Validator(schema))
        elif param["in"] == "body":
            schema = param.get("schema", {})
            result.body = _gitea_validator(schema)
            result.body_required = bool(param.get("required"))
            result.body_definition = schema.get("$ref", "").rsplit("/", 1)[-1]
    for code, resp in op.get("responses", {}).items():
        ref = resp.get("$ref", "")
        schema = spec["responses"].get(ref.rsplit("/", 1)[-1], {}).get("schema") if ref else resp.get("schema")
        if code.isdigit() and schema is not None:
            result.responses[int(code)] = _gitea_validator(schema)
    return result


def coerce_query(op: Operation, query: dict[str, list[str]]) -> dict[str, Any]:
    """Query strings typed by the operation's parameter schemas (unknown parameters dropped)."""
    typed: dict[str, Any] = {}
    for name, (schema, _) in op.query.items():
        values = query.get(name) or query.get(name + "[]")
        if not values:
            continue
        kind = schema.get("type")
        if kind == "array":
            item_kind = schema.get("items", {}).get("type")
            parts = [p for v in values for p in v.split(",") if p != ""]
            typed[name] = [_scalar(item_kind, p) for p in parts]
        else:
            typed[name] = _scalar(kind, values[-1])
    return typed


def _scalar(kind: str | None, raw: str) -> Any:
    if kind == "integer" and re.fullmatch(r"-?\d+", raw):
        return int(raw)
    if kind == "boolean" and raw in ("true", "false", "1", "0"):
        return raw in ("true", "1")
    return raw


def _deepest(err: ValidationError) -> ValidationError:
    """Descends anyOf alternatives, skipping the null branches our conversions add."""
    while err.context:
        candidates = [e for e in err.context if not (e.validator == "type" and e.validator_value == "null")]
        if not candidates:
            break
        err = max(candidates, key=lambda e: len(e.absolute_path))
    return err


def _describe(err: ValidationError, gitea: bool) -> Problem:
    err = _deepest(err)
    path = [p for p in err.absolute_path]
    names = [p for p in path if isinstance(p, str)]
    if err.validator == "required":
        missing = [r for r in err.validator_value if isinstance(err.instance, dict) and r not in err.instance]
        name = missing[0] if missing else ""
        return Problem(name, "missing_field", f'"{name}" wasn\'t supplied.')
    where = "/".join(f"properties/{p}" if isinstance(p, str) else "items" for p in path) or "body"
    value = json.dumps(err.instance)
    expected = ""
    if err.validator == "type":
        expected = err.validator_value if isinstance(err.validator_value, str) else err.validator_value[0]
        text = f"For '{where}', {value} is not {'an' if expected[0] in 'aeiou' else 'a'} {expected}."
    elif err.validator == "enum":
        text = f"For '{where}', {value} is not a possible value."
    else:
        text = f"For '{where}', {err.message}."
    return Problem(names[-1] if names else "", "invalid", text, err.instance, expected)


def check(op: Operation, query: dict[str, Any], body: Any, body_present: bool, gitea: bool) -> list[Problem]:
    problems = []
    for name, value in query.items():
        problems += [_describe(e, gitea) for e in op.query[name][1].iter_errors(value)]
        for p in problems:
            p.field = p.field or name
    if op.body is not None and (body_present or op.body_required):
        problems += [_describe(e, gitea) for e in op.body.iter_errors(body)]
    return problems


def response_validator(platform: str, method: str, template: str, status: int) -> Draft4Validator | None:
    op = (github_operation if platform == "github" else gitea_operation)(method, template)
    return op.responses.get(status) if op else None


def gitea_go_name(definition: str, prop: str) -> str:
    """The Go field name Gitea's binding errors use, e.g. CreateLabelOption.name -> Name."""
    props = _load(GITEA_SPEC)["definitions"].get(definition, {}).get("properties", {})
    return props.get(prop, {}).get("x-go-name") or prop[:1].upper() + prop[1:]


def gitea_definition_keys(name: str) -> set[str]:
    return set(_load(GITEA_SPEC)["definitions"][name].get("properties", {}))
