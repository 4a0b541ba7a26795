"""The ASGI application: routing, auth, faults, validation, paging, logging, per-dialect errors."""

from __future__ import annotations

import contextlib
import email.utils
import inspect
import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, TypeVar

from . import validate
from .auth import Identity, authenticate
from .common import ApiError
from .state import Issue, Repo, level_at_least

if TYPE_CHECKING:
    from .forge import FakeForge
    from .state import Comment

Handler = Callable[["Ctx"], Any]
T = TypeVar("T")
_PARAM = re.compile(r"\{(\w+)(:path)?\}")


@dataclass
class Route:
    method: str
    template: str
    handler: Handler
    jwt: bool = False

    def __post_init__(self) -> None:
        self.spec = _PARAM.sub(lambda m: "{" + m.group(1) + "}", self.template)
        parts, pos = [], 0
        for m in _PARAM.finditer(self.template):
            parts.append(re.escape(self.template[pos:m.start()]))
            parts.append(f"(?P<{m.group(1)}>{'.+' if m.group(2) else '[^/]+'})")
            pos = m.end()
        parts.append(re.escape(self.template[pos:]))
        self.regex = re.compile("^" + "".join(parts) + "$")
        # Literal routes win over parameter routes: /issues/comments before /issues/{number}.
        params = _PARAM.findall(self.template)
        self.rank = (len(params), -len(_PARAM.sub("", self.template)))


class Routes:
    """A route table filled by decorators: `@routes.get("/repos/{owner}/{repo}/labels")`."""

    def __init__(self) -> None:
        self.items: list[Route] = []

    def add(self, method: str, template: str, *, jwt: bool = False) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.items.append(Route(method, template, handler, jwt))
            return handler
        return register

    def get(self, template: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.add("GET", template, **kw)

    def post(self, template: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.add("POST", template, **kw)

    def put(self, template: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.add("PUT", template, **kw)

    def patch(self, template: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.add("PATCH", template, **kw)

    def delete(self, template: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.add("DELETE", template, **kw)


@dataclass
class Resp:
    status: int = 200
    body: Any = None  # JSON-able, bytes (sent as is) or None (no body)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class LoggedRequest:
    """One entry of `forge.requests`, in arrival order."""

    platform: str  # github | gitea | git
    method: str
    path: str  # relative to the API root, e.g. /repos/acme/widgets/labels
    query: dict[str, str]
    json: Any
    status: int = 0
    user: str | None = None
    was_304: bool = False
    fault: bool = False
    route: str | None = None  # the matched template, e.g. /repos/{owner}/{repo}/labels
    response: Any = None


class Ctx:
    """What a handler sees of one request."""

    def __init__(self, forge: FakeForge, dialect: Dialect, method: str, path: str,
                 query: dict[str, list[str]], headers: dict[str, str], url: str) -> None:
        self.forge, self.dialect, self.method, self.path = forge, dialect, method, path
        self.query, self.headers, self.url = query, headers, url
        self.params: dict[str, str] = {}
        self.args: dict[str, Any] = {}
        self.json: Any = None
        self.identity = Identity("anonymous")
        self.route: Route | None = None

    @property
    def login(self) -> str | None:
        return self.identity.login

    @property
    def ops(self) -> Any:
        return self.forge.ops

    def arg(self, name: str, default: Any = None) -> Any:
        if name in self.args:
            return self.args[name]
        values = self.query.get(name)
        return values[-1] if values else default

    def body(self) -> dict[str, Any]:
        return self.json if isinstance(self.json, dict) else {}

    # -- access --------------------------------------------------------------------------
    def repo(self, level: str = "read") -> Repo:
        repo = self.forge.state.repo(f"{self.params['owner']}/{self.params['repo']}")
        if repo is None or self.forge.state.level(repo, self.login) == "none":
            raise self.dialect.not_found()
        self.dialect.check_scopes(self, repo, level)
        self.require(repo, level)
        return repo

    def level(self, repo: Repo) -> str:
        return self.forge.state.level(repo, self.login)

    def can(self, repo: Repo, level: str) -> bool:
        return level_at_least(self.level(repo), level)

    def require(self, repo: Repo, level: str) -> None:
        if self.can(repo, level):
            return
        if self.login is None:
            raise ApiError(401, self.dialect.auth_required_message)
        raise self.dialect.forbidden(self, level)

    def issue(self, repo: Repo, key: str, pulls: bool | None = None) -> Issue:
        raw = self.params[key]
        issue = repo.issue(int(raw)) if raw.isdigit() else None
        if issue is None or (pulls is True and not issue.pull) or (pulls is False and issue.pull):
            raise self.dialect.not_found()
        return issue

    def comment(self, repo: Repo, key: str = "comment_id") -> Comment:
        return self.by_id(repo.comments, key)

    def by_id(self, items: Mapping[int, T], key: str) -> T:
        """The item whose numeric id is the path parameter `key`; the dialect's 404 otherwise."""
        raw = self.params[key]
        found = items.get(int(raw)) if raw.isdigit() else None
        if found is None:
            raise self.dialect.not_found()
        return found

    # -- paging --------------------------------------------------------------------------
    def paged(self, items: list[Any], render: Callable[[Any], Any] = lambda x: x) -> Resp:
        page, size, size_param = self.dialect.page_params(self)
        last = max(1, -(-len(items) // size))
        chunk = items[(page - 1) * size: page * size]
        headers = self.dialect.total_headers(len(items))
        links = []
        for rel, target in (("next", page + 1), ("last", last), ("first", 1), ("prev", page - 1)):
            if (rel in ("next", "last") and page < last) or (rel in ("first", "prev") and page > 1):
                links.append(f'<{self._page_url(target, size, size_param)}>; rel="{rel}"')
        if links:
            headers["link"] = ", ".join(links)
        return Resp(200, [render(x) for x in chunk], headers)

    def _page_url(self, page: int, size: int, size_param: str) -> str:
        query = {k: v[-1] for k, v in self.query.items()}
        query.update({size_param: str(size), "page": str(page)})
        return f"{self.url}?{urllib.parse.urlencode(query)}"


class Dialect:
    """What differs between platforms at the HTTP level; subclassed by github.py and gitea.py."""

    name = ""
    prefix = ""
    auth_required_message = "Requires authentication"

    def __init__(self, forge: FakeForge, routes: list[Route]) -> None:
        self.forge = forge
        self.routes = sorted(routes, key=lambda r: r.rank)

    def error_body(self, err: ApiError) -> dict[str, Any]:
        raise NotImplementedError

    def not_found(self) -> ApiError:
        raise NotImplementedError

    def forbidden(self, ctx: Ctx, level: str) -> ApiError:
        raise NotImplementedError

    def operation(self, method: str, spec: str) -> validate.Operation | None:
        raise NotImplementedError

    def invalid(self, op: validate.Operation, problems: list[validate.Problem]) -> ApiError:
        raise NotImplementedError

    def malformed_json(self, error: str) -> ApiError:
        raise NotImplementedError

    def page_params(self, ctx: Ctx) -> tuple[int, int, str]:
        raise NotImplementedError

    def total_headers(self, total: int) -> dict[str, str]:
        return {}

    def check_scopes(self, ctx: Ctx, repo: Repo, level: str) -> None:
        """Raises when the caller's token scopes do not reach `repo` at `level` (GitHub's classic tokens)."""

    async def before(self, ctx: Ctx) -> Resp | None:
        """Runs after authentication; may answer instead of the handler (rate limit)."""
        return None

    def after(self, ctx: Ctx, resp: Resp, raw: bytes, entry: LoggedRequest) -> tuple[Resp, bytes]:
        return resp, raw

    def fault_response(self, fault: Any) -> Resp:
        raise NotImplementedError

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        for route in self.routes:
            if route.method != method:
                continue
            m = route.regex.match(path)
            if m:
                return route, {k: urllib.parse.unquote(v) for k, v in m.groupdict().items()}
        return None, {}

    async def handle(self, method: str, path: str, query_string: str, headers: dict[str, str],
                     body: bytes, origin: str) -> tuple[Resp, bytes]:
        query = urllib.parse.parse_qs(query_string, keep_blank_values=True)
        entry = LoggedRequest(self.name, method, urllib.parse.unquote(path),
                              {k: v[-1] for k, v in query.items()}, None)
        try:
            entry.json = json.loads(body) if body else None
        except ValueError:
            entry.json = None
        self.forge.requests.append(entry)
        ctx = Ctx(self.forge, self, method, path, query, headers, origin + self.prefix + path)
        try:
            resp = await self._dispatch(ctx, entry, body)
        except ApiError as err:
            resp = Resp(err.status, self.error_body(err), dict(err.headers))
        # Webhooks for what the request changed go out before the caller sees the answer.
        await self.forge.after_api_change()
        raw = _encode(resp.body)
        resp, raw = self.after(ctx, resp, raw, entry)
        entry.status = resp.status
        entry.response = resp.body if not isinstance(resp.body, bytes) else None
        return resp, raw

    async def _dispatch(self, ctx: Ctx, entry: LoggedRequest, body: bytes) -> Resp:
        fault = self.forge.faults.match(self.name, ctx.method, entry.path)
        if fault is not None:
            if fault.latency:
                await self.forge.faults.sleep(fault.latency)
            if fault.status is not None:
                entry.fault = True
                with contextlib.suppress(ApiError):  # log who it was, if the credentials are good
                    entry.user = authenticate(self.forge, self.name, ctx.headers, False).login
                return self.fault_response(fault)
        route, ctx.params = self.match(ctx.method, ctx.path)
        ctx.route = route
        entry.route = route.spec if route else None
        ctx.identity = authenticate(self.forge, self.name, ctx.headers, bool(route and route.jwt))
        entry.user = ctx.login or (f"app:{ctx.identity.app.id}" if ctx.identity.app else None)
        early = await self.before(ctx)
        if early is not None:
            return early
        if route is None:
            raise self.not_found()
        if body.strip():
            try:
                ctx.json = json.loads(body)
            except ValueError as exc:
                raise self.malformed_json(str(exc)) from exc
        op = self.operation(ctx.method, route.spec)
        if op is not None:
            ctx.args = validate.coerce_query(op, ctx.query)
            problems = validate.check(op, ctx.args, ctx.json, bool(body.strip()), self.name == "gitea")
            if problems:
                raise self.invalid(op, problems)
        result = route.handler(ctx)
        if inspect.isawaitable(result):
            result = await result
        return result if isinstance(result, Resp) else Resp(200, result)


def _encode(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    return json.dumps(body).encode()


class ForgeApp:
    """The ASGI entry point: `/api/v3` GitHub, `/api/v1` Gitea, `/{owner}/{repo}.git/...` git."""

    def __init__(self, forge: FakeForge, dialects: list[Dialect],
                 git: Callable[[dict[str, Any], bytes, dict[str, str]], Awaitable[tuple[int, list[tuple[bytes, bytes]], bytes]]]) -> None:
        self.forge = forge
        self.dialects = dialects
        self.git = git

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1").split("?", 1)[0]
        query_string = scope.get("query_string", b"").decode("latin-1")
        origin = f"{scope.get('scheme', 'http')}://{headers.get('host', 'fakeforge')}"
        for dialect in self.dialects:
            if raw_path == dialect.prefix or raw_path.startswith(dialect.prefix + "/"):
                resp, raw = await dialect.handle(scope["method"], raw_path[len(dialect.prefix):] or "/",
                                                 query_string, headers, body, origin)
                out = [(k.lower().encode(), v.encode()) for k, v in resp.headers.items()]
                # Both platforms' servers send Date; on the emulator's clock, so tests can skew it.
                out.append((b"date", email.utils.formatdate(self.forge.clock(), usegmt=True).encode()))
                if resp.status not in (204, 304) and not any(k == b"content-type" for k, _ in out):
                    out.append((b"content-type", b"application/json; charset=utf-8"))
                await _send(send, resp.status, out, raw if resp.status not in (204, 304) else b"")
                return
        from .webpages import page

        web = page(self.forge, scope["method"], urllib.parse.unquote(raw_path))
        if web is not None:
            await _send(send, *web)
            return
        status, out, raw = await self.git({**scope, "path": urllib.parse.unquote(raw_path)}, body, headers)
        await _send(send, status, out, raw)


async def _send(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = [h for h in headers if h[0] != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
