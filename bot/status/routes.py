"""Routes of the status page: /status, /status/help, sign-in and sign-out, and its stylesheet.

Off (404) unless FORGEBOT_ADMIN_TOKEN or FORGEBOT_VIEWER_TOKENS is set. Sessions, CSRF and the
bounds on what an unauthenticated client can make the server hold: bot/status/session.py.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import logging
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from bot import __version__
from bot.forges.base import ForgeError
from bot.permissions import Rule
from bot.status import session
from bot.status.sections import Link, StatusSections, Table

if TYPE_CHECKING:
    from bot.http.parts import AppParts

logger = logging.getLogger(__name__)

MAX_REPOSITORIES = 50
SECTION_TIMEOUT = 20.0
PAGE_CACHE_SECONDS = 10.0  # page views within this share one set of forge reads
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


class StatusPage:
    def __init__(self, app: AppParts, sections: StatusSections) -> None:
        self.app = app
        self.sections = sections
        self.templates = Environment(loader=PackageLoader("bot.status", "templates"), autoescape=select_autoescape(["html"]))
        self.failures = session.FailedSignIns()
        self._cache: tuple[float, dict[str, Any]] | None = None

    # -- who may look ------------------------------------------------------------------------

    def tokens(self) -> list[str]:
        settings = self.app.settings
        found = [t.get_secret_value() for t in settings.viewer_tokens]
        if settings.admin_token is not None:
            found.append(settings.admin_token.get_secret_value())
        return found

    def signed_in(self, request: Request) -> bool:
        return session.valid_session(request.cookies.get(session.COOKIE), self.tokens(), time.time())

    def secure(self, request: Request) -> bool:
        """Whether the browser reached us over https (directly, through a proxy, or by the public URL)."""
        public = self.app.settings.public_url or ""
        return (request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").lower() == "https"
                or public.startswith("https://"))

    def own_origins(self, request: Request) -> set[str]:
        """The origins this page is served at: as the request reached us, and the public URL's."""
        forwarded = request.headers.get("x-forwarded-proto", "").lower() == "https"
        origins = {f"{'https' if forwarded else request.url.scheme}://{request.headers.get('host', '')}"}
        if self.app.settings.public_url:
            public = urllib.parse.urlsplit(self.app.settings.public_url)
            origins.add(f"{public.scheme}://{public.netloc}")
        return origins

    def page(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = self.templates.get_template(template).render(version=__version__, **values)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    # -- the pages --------------------------------------------------------------------------

    async def status(self, request: Request) -> Response:
        if not self.tokens():
            return self.off()
        if not self.signed_in(request):
            return RedirectResponse("/status/signin", status_code=303, headers=SECURITY_HEADERS)
        data = await self.load()
        return self.page("status.html", signed_in=True, **data)

    async def help(self, request: Request) -> Response:
        if not self.tokens():
            return self.off()
        if not self.signed_in(request):
            return RedirectResponse("/status/signin", status_code=303, headers=SECURITY_HEADERS)
        return self.page("help.html", signed_in=True, commands=self.command_rows(), platforms=self.platforms())

    async def signin(self, request: Request) -> Response:
        if not self.tokens():
            return self.off()
        if request.method == "GET":
            if self.signed_in(request):
                return RedirectResponse("/status", status_code=303, headers=SECURITY_HEADERS)
            return self.page("signin.html", error=None)
        client = request.client.host if request.client else "unknown"
        if not session.same_origin(dict(request.headers), self.own_origins(request)):
            return self.page("signin.html", 403, error="This form must be sent from this site's own sign-in page.")
        if self.failures.blocked(client):
            return self.page("signin.html", 429, error="Too many failed sign-ins from this address; wait five minutes.")
        body = await self.small_body(request)
        if body is None:
            return self.page("signin.html", 413, error="That form was too large.")
        given = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("token", [""])[0].strip()
        token = session.matching_token(given, self.tokens()) if given else None
        if token is None:
            self.failures.failed(client)
            logger.info("status sign-in refused", extra={"client": client})
            return self.page("signin.html", 401, error="That token is not known here.")
        response = RedirectResponse("/status", status_code=303, headers=SECURITY_HEADERS)
        response.set_cookie(session.COOKIE, session.new_session(token, time.time()), max_age=session.SESSION_SECONDS,
                            path="/status", secure=self.secure(request), httponly=True, samesite="strict")
        return response

    async def signout(self, request: Request) -> Response:
        if not session.same_origin(dict(request.headers), self.own_origins(request)):
            return self.page("signin.html", 403, error="This form must be sent from this site's own page.")
        response = RedirectResponse("/status/signin", status_code=303, headers=SECURITY_HEADERS)
        response.delete_cookie(session.COOKIE, path="/status", secure=self.secure(request), httponly=True, samesite="strict")
        return response

    async def stylesheet(self, request: Request) -> Response:
        css = importlib.resources.files("bot.status").joinpath("static/status.css").read_bytes()
        return Response(css, media_type="text/css", headers={"cache-control": "max-age=3600", "x-content-type-options": "nosniff"})

    def off(self) -> Response:
        return HTMLResponse("<!doctype html><title>Not found</title><p>The status page is off: set "
                            "FORGEBOT_VIEWER_TOKENS or FORGEBOT_ADMIN_TOKEN.</p>", status_code=404, headers=SECURITY_HEADERS)

    @staticmethod
    async def small_body(request: Request) -> bytes | None:
        """The request body, or None once it passes MAX_FORM_BYTES (read no further)."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > session.MAX_FORM_BYTES:
            return None
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > session.MAX_FORM_BYTES:
                return None
        return body

    # -- what the page shows ----------------------------------------------------------------

    async def load(self) -> dict[str, Any]:
        now = time.monotonic()
        if self._cache is not None and now - self._cache[0] < PAGE_CACHE_SECONDS:
            return self._cache[1]
        ctx = self.app.processor.context()
        configured = ctx.forges.configured
        repositories = []
        for platform, repo in await ctx.storage.known_repositories(MAX_REPOSITORIES):
            if platform not in configured:
                continue
            forge = ctx.forges.get(platform)
            tables = [(s.title, await self._guarded(s.load(ctx, forge, repo))) for s in self.sections.repository_sections]
            repositories.append({"platform": platform, "name": repo, "anchor": f"{platform}-{repo}".replace("/", "-"),
                                 "tables": tables})
        engine = [(s.title, await self._guarded(s.load(ctx, self.app))) for s in self.sections.engine_sections]
        data = {"repositories": repositories, "engine": engine, "generated": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                "link_type": Link}
        self._cache = (now, data)
        return data

    @staticmethod
    async def _guarded(loading: Any) -> Table:
        """A section that fails shows why instead of taking the page down."""
        try:
            table: Table = await asyncio.wait_for(loading, SECTION_TIMEOUT)
            return table
        except TimeoutError:
            return Table((), [], note=f"could not be read within {SECTION_TIMEOUT:.0f} s")
        except ForgeError as exc:
            return Table((), [], note=f"could not be read: {exc}")

    def platforms(self) -> list[str]:
        return list(self.app.forges.configured) or ["github", "gitea"]

    def command_rows(self) -> list[dict[str, Any]]:
        """Every command with who may run it by default, per platform (Gitea has no triage or maintain)."""
        from bot.forges.gitea import CAPABILITIES as GITEA
        from bot.forges.github import GitHubForge

        capabilities = {"github": GitHubForge.capabilities, "gitea": GITEA}
        rows = []
        for spec in self.app.router.commands:
            where = "" if spec.on_issues and spec.on_pulls else (" (issues only)" if spec.on_issues else " (pull requests only)")
            rows.append({
                "usage": spec.usage, "description": spec.description + where,
                "who": {p: Rule.of(spec, None).describe(capabilities[p]) for p in self.platforms() if p in capabilities},
            })
        return rows


def routes(app: AppParts, sections: StatusSections) -> list[Route]:
    page = StatusPage(app, sections)
    return [
        Route("/status", page.status),
        Route("/status/help", page.help),
        Route("/status/signin", page.signin, methods=["GET", "POST"]),
        Route("/status/signout", page.signout, methods=["POST"]),
        Route("/status/static/status.css", page.stylesheet),
    ]
