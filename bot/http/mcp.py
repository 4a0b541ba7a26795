"""The MCP endpoint at /mcp: Streamable HTTP, stateless, behind the agent bearer tokens.

Stateless: every POST carries a whole exchange and no session id is handed out, so any replica can
answer any request and nothing is kept between requests. The bearer token (FORGEBOT_AGENT_TOKENS)
names the login every tool acts as, under the agent API's rules (handlers/agent_ops.py). The SDK's
DNS-rebinding check (Host/Origin allow-lists) is off: it protects servers that trust whoever
reaches them, and this one trusts only a bearer token, which a rebound browser page cannot attach.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot import __version__
from bot.engine.toolbox import Caller, Toolbox, acting_as, build_mcp_server, stop_acting

if TYPE_CHECKING:
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    from bot.engine.context import Context
    from config.settings import Settings

PATH = "/mcp"


class MCPEndpoint:
    """An ASGI app for /mcp; `start` and `stop` run with the application's lifespan."""

    def __init__(self, settings: Settings, toolbox: Toolbox, make_context: Callable[[], Context],
                 login_of: Callable[[str], str | None]) -> None:
        self.settings = settings
        self.toolbox = toolbox
        self.make_context = make_context
        self.login_of = login_of
        self._manager: StreamableHTTPSessionManager | None = None
        self._runner: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        from mcp.server.transport_security import TransportSecuritySettings

        server = build_mcp_server(self.toolbox, read_only=self.settings.mcp_read_only, version=__version__)
        # A session manager runs once; each start of the app builds a new one.
        server.streamable_http_app(
            streamable_http_path=PATH, stateless_http=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        manager = server.session_manager
        started = asyncio.Event()
        self._stopping = asyncio.Event()

        # The manager's task group must be entered and left by one task; start and stop may run
        # in different ones (uvicorn's lifespan does not, a test's event loop may), so it gets its own.
        async def run() -> None:
            async with manager.run():
                started.set()
                await self._stopping.wait()

        self._runner = asyncio.get_running_loop().create_task(run(), name="mcp-session-manager")
        waiting = asyncio.ensure_future(started.wait())
        await asyncio.wait({waiting, self._runner}, return_when=asyncio.FIRST_COMPLETED)
        if not started.is_set():
            waiting.cancel()
            self._runner.result()  # it failed to start: say why
        self._manager = manager

    async def stop(self) -> None:
        self._manager = None
        if self._runner is not None:
            self._stopping.set()
            await self._runner
            self._runner = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = dict(scope.get("headers") or [])
        login = self.login_of(headers.get(b"authorization", b"").decode("latin-1"))
        if login is None:
            await _answer(send, 401, {"error": "missing or unknown bearer token (FORGEBOT_AGENT_TOKENS)"},
                          [(b"www-authenticate", b"Bearer")])
            return
        if self._manager is None:
            await _answer(send, 503, {"error": "the MCP endpoint is starting or stopping; try again"})
            return
        token = acting_as(Caller(login, self.make_context))
        try:
            await self._manager.handle_request(scope, receive, send)
        finally:
            stop_acting(token)


async def _answer(send: Any, status: int, body: dict[str, Any], extra: list[tuple[bytes, bytes]] | None = None) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
