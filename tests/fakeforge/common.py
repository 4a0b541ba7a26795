"""Small helpers shared by the representation, route and webhook modules."""

from __future__ import annotations

import base64
import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .forge import FakeForge


class ApiError(Exception):
    """An error answer; each dialect formats it the way its platform does."""

    def __init__(
        self, status: int, message: str, *, errors: Any = None,
        headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(int(ts), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str | None) -> float | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def int_or(value: Any, default: int) -> int:
    """A query parameter as an int, `default` when it is missing or not a number."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def node_id(kind: str, ident: int | str) -> str:
    return base64.b64encode(f"0{len(kind)}:{kind}{ident}".encode()).decode()


def user_email(forge: FakeForge, login: str) -> str:
    user = forge.state.user(login)
    if user is not None and user.email:
        return user.email
    return f"{login}@users.noreply.fakeforge.test"


def login_for_email(forge: FakeForge, email: str) -> str | None:
    for user in forge.state.users.values():
        if user_email(forge, user.login) == email:
            return user.login
    return None


def combined_state(states: list[str]) -> str:
    """GitHub's combined status: failure beats pending beats success; nothing is pending."""
    if any(s in ("error", "failure") for s in states):
        return "failure"
    if not states or any(s in ("pending", "warning") for s in states):
        return "pending"
    return "success"


def gitea_combined_state(states: list[str]) -> str:
    """Gitea picks the worst state: error > failure > warning > pending > success."""
    order = ["success", "pending", "warning", "failure", "error"]
    if not states:
        return "pending"
    return max(states, key=lambda s: order.index(s) if s in order else 0)


def validation_failed(resource: str, code: str, field: str | None = None, message: str | None = None) -> ApiError:
    """GitHub's 422 "Validation Failed" with one entry in `errors`."""
    error: dict[str, Any] = {"resource": resource, "code": code}
    if field is not None:
        error["field"] = field
    if message is not None:
        error["message"] = message
    return ApiError(422, "Validation Failed", errors=[error])
