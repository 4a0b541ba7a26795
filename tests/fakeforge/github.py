"""The GitHub dialect (GitHub Enterprise style, under /api/v3): errors, paging, ETags, rate limit."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from . import validate
from .common import ApiError, int_or
from .server import Ctx, Dialect, LoggedRequest, Resp, Route
from .state import Repo

if TYPE_CHECKING:
    from .faults import Fault
    from .forge import FakeForge

DOCS = "https://docs.github.com/rest"
SECONDARY = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
_UNCOUNTED = {"/rate_limit"}


def routes() -> list[Route]:
    from . import gh_admin, gh_checks, gh_comments, gh_invitations, gh_issues, gh_pulls, gh_repo, gh_review_requests, gh_rules
    modules = (gh_repo, gh_issues, gh_comments, gh_pulls, gh_checks, gh_admin, gh_invitations, gh_review_requests, gh_rules)
    return [route for module in modules for route in module.routes.items]


class GitHub(Dialect):
    name = "github"
    prefix = "/api/v3"

    def __init__(self, forge: FakeForge) -> None:
        super().__init__(forge, routes())

    def error_body(self, err: ApiError) -> dict[str, Any]:
        body: dict[str, Any] = {"message": err.message, "documentation_url": DOCS, "status": str(err.status)}
        if err.errors is not None:
            body["errors"] = err.errors
        return {**body, **err.extra}

    def not_found(self) -> ApiError:
        return ApiError(404, "Not Found")

    def forbidden(self, ctx: Ctx, level: str) -> ApiError:
        if ctx.identity.kind == "installation":
            return ApiError(403, "Resource not accessible by integration")
        what = "admin rights" if level == "admin" else f"{'push' if level == 'write' else level} access"
        return ApiError(403, f"Must have {what} to repository.")

    def operation(self, method: str, spec: str) -> validate.Operation | None:
        return validate.github_operation(method, spec)

    def invalid(self, op: validate.Operation, problems: list[validate.Problem]) -> ApiError:
        messages = [p.message.replace("null", "nil") for p in problems]
        errors = [{"resource": op.resource, "field": p.field, "code": p.code, "message": m}
                  for p, m in zip(problems, messages)]
        return ApiError(422, "Invalid request.\n\n" + "\n".join(messages), errors=errors)

    def malformed_json(self, error: str) -> ApiError:
        return ApiError(400, "Problems parsing JSON")

    def page_params(self, ctx: Ctx) -> tuple[int, int, str]:
        size = int_or(ctx.arg("per_page"), 30)
        size = 30 if size < 1 else min(size, 100)
        return max(1, int_or(ctx.arg("page"), 1)), size, "per_page"

    def check_scopes(self, ctx: Ctx, repo: Repo, level: str) -> None:
        # A classic token sees private repositories only with `repo`, and writes only with `repo` or
        # `public_repo`; GitHub answers 404 rather than say what exists (*choice*: some writes 403).
        token = ctx.identity.token
        scopes = token.scopes if token is not None else None
        if scopes is None:
            return
        if (repo.private and "repo" not in scopes) or (level != "read" and not {"repo", "public_repo"} & set(scopes)):
            raise self.not_found()

    async def before(self, ctx: Ctx) -> Resp | None:
        if ctx.route is not None and ctx.route.spec in _UNCOUNTED:
            return None
        bucket = self.forge.rate.bucket(ctx.identity.rate_key)
        ctx.bucket = bucket  # type: ignore[attr-defined]
        if bucket.remaining <= 0:
            err = ApiError(403, self.forge.rate.exceeded_message(ctx.identity))
            return Resp(403, self.error_body(err))
        return None

    def after(self, ctx: Ctx, resp: Resp, raw: bytes, entry: LoggedRequest) -> tuple[Resp, bytes]:
        bucket = getattr(ctx, "bucket", None)
        if ctx.method == "GET" and resp.status == 200 and not entry.fault:
            etag = 'W/"' + hashlib.sha256(raw).hexdigest() + '"'
            resp.headers["etag"] = etag
            if etag in [t.strip() for t in ctx.headers.get("if-none-match", "").split(",")]:
                entry.was_304 = True
                resp = Resp(304, None, {"etag": etag})
                raw = b""
        if bucket is not None and not entry.was_304 and bucket.remaining > 0:
            bucket.remaining -= 1
        if bucket is None and (ctx.route is None or ctx.route.spec not in _UNCOUNTED):
            bucket = self.forge.rate.bucket("anonymous")  # e.g. 401s: the caller's IP bucket
        token = ctx.identity.token
        if token is not None and token.scopes is not None:  # classic tokens say what they carry
            resp.headers["x-oauth-scopes"] = ", ".join(token.scopes)
        if bucket is not None:
            for key, value in self.forge.rate.headers(bucket).items():
                resp.headers.setdefault(key, value)  # a fault's own rate-limit headers win
        return resp, raw

    def fault_response(self, fault: Fault) -> Resp:
        status = fault.status or 500
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["retry-after"] = str(fault.retry_after)
        if fault.rate_limited:
            bucket = self.forge.rate.bucket("fault")
            headers.update(self.forge.rate.headers(bucket))
            headers.update({"x-ratelimit-remaining": "0", "x-ratelimit-used": str(bucket.limit)})
            message = "API rate limit exceeded for user ID 1."
        elif status in (403, 429):
            message = SECONDARY
        else:
            message = {500: "Server Error", 502: "Server Error", 503: "Service Unavailable"}.get(status, "Error")
        body = fault.body if fault.body is not None else self.error_body(ApiError(status, message))
        return Resp(status, body, headers)
