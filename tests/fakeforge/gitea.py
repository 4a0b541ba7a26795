"""The Gitea dialect (under /api/v1; 1.22 unless the forge is given another version, see gt_version): errors, paging with X-Total-Count, no rate limits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import validate
from .common import ApiError, int_or
from .server import Ctx, Dialect, Resp, Route

if TYPE_CHECKING:
    from .faults import Fault
    from .forge import FakeForge

MAX_RESPONSE_ITEMS = 50
DEFAULT_PAGING_NUM = 30
_GO_TYPES = {"string": "string", "integer": "int64", "boolean": "bool", "array": "[]string", "object": "struct"}
_JSON_KINDS = {str: "string", bool: "bool", int: "number", float: "number", list: "array", dict: "object"}


def routes() -> list[Route]:
    from . import gt_admin, gt_comments, gt_hooks, gt_issues, gt_protect, gt_pulls, gt_repo, gt_review_requests
    modules = (gt_repo, gt_protect, gt_issues, gt_comments, gt_pulls, gt_admin, gt_hooks, gt_review_requests)
    return [route for module in modules for route in module.routes.items]


class Gitea(Dialect):
    name = "gitea"
    prefix = "/api/v1"
    auth_required_message = "token is required"

    def __init__(self, forge: FakeForge) -> None:
        super().__init__(forge, routes())

    @property
    def swagger_url(self) -> str:
        return self.forge.base_url + "/api/swagger"

    def error_body(self, err: ApiError) -> dict[str, Any]:
        body: dict[str, Any] = {"message": err.message, "url": self.swagger_url}
        if err.status == 404:
            body["errors"] = err.errors
        return {**body, **err.extra}

    def not_found(self) -> ApiError:
        return ApiError(404, "The target couldn't be found.")

    def forbidden(self, ctx: Ctx, level: str) -> ApiError:
        if level == "admin":
            return ApiError(403, "user should be an owner or a collaborator with admin write of a repository")
        return ApiError(403, "user should have a permission to write to a repo")

    def operation(self, method: str, spec: str) -> validate.Operation | None:
        return validate.gitea_operation(method, spec)

    def invalid(self, op: validate.Operation, problems: list[validate.Problem]) -> ApiError:
        # Gitea's binding reports the first problem only, with Go field names.
        p = problems[0]
        go = validate.gitea_go_name(op.body_definition, p.field) if p.field else ""
        if p.code == "missing_field":
            return ApiError(422, f"[{go}]: Required")
        if p.expected:
            return ApiError(422, "[]: " + go_type_error(op.body_definition, p.field, p.value, p.expected))
        return ApiError(422, f"[{go}]: {p.message}")

    def malformed_json(self, error: str) -> ApiError:
        return ApiError(422, f"[]: {error}")

    def page_params(self, ctx: Ctx) -> tuple[int, int, str]:
        size = int_or(ctx.arg("limit"), 0)
        size = DEFAULT_PAGING_NUM if size <= 0 else min(size, MAX_RESPONSE_ITEMS)
        return max(1, int_or(ctx.arg("page"), 1)), size, "limit"

    def total_headers(self, total: int) -> dict[str, str]:
        return {"x-total-count": str(total), "access-control-expose-headers": "Link, X-Total-Count"}

    def fault_response(self, fault: Fault) -> Resp:
        status = fault.status or 500
        headers = {"retry-after": str(fault.retry_after)} if fault.retry_after is not None else {}
        body = fault.body if fault.body is not None else self.error_body(ApiError(status, "fault injected"))
        return Resp(status, body, headers)


def go_type_error(definition: str, prop: str, value: Any, schema_type: str) -> str:
    """Go's json.Unmarshal message for a value of the wrong type."""
    kind = _JSON_KINDS.get(type(value), "value")
    return (f"json: cannot unmarshal {kind} into Go struct field {definition}.{prop} "
            f"of type {_GO_TYPES.get(schema_type, schema_type)}")
