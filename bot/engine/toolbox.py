"""MCP tools: a registry each feature adds its tools to, and the MCP server built from it.

A handler module owns a `Toolbox` (as it owns a Router) and registers tools with
`@toolbox.tool(read_only=...)`; `bot/app.py` and `forgebot mcp` compose them. A tool is a plain
async function whose parameters are its MCP arguments; it learns who is calling, and gets a
Context, from `caller()`, which the transport sets: the HTTP endpoint from the bearer token,
`forgebot mcp` from its --login flag. The value travels in a context variable, which each request's
server task inherits from the request that started it, so nothing of one caller reaches another.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from bot.engine.context import Context

ToolFunc = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Caller:
    """Who calls a tool, and how to make the Context the tool acts in."""

    login: str
    make_context: Callable[[], Context]
    platform: str | None = None  # the default platform for tools that take none


_CALLER: contextvars.ContextVar[Caller] = contextvars.ContextVar("forgebot_mcp_caller")


def caller() -> Caller:
    """The caller of the tool running now (set by the transport before the request is served)."""
    try:
        return _CALLER.get()
    except LookupError:
        raise RuntimeError("no MCP caller: tools run only inside forgebot's MCP transports") from None


def acting_as(who: Caller) -> contextvars.Token[Caller]:
    return _CALLER.set(who)


def stop_acting(token: contextvars.Token[Caller]) -> None:
    _CALLER.reset(token)


@dataclass(frozen=True)
class ToolSpec:
    name: str
    func: ToolFunc
    description: str
    read_only: bool
    title: str | None = None


@dataclass
class Toolbox:
    """Tools by name."""

    _tools: dict[str, ToolSpec] = field(default_factory=dict)

    def tool(self, name: str, *, description: str, read_only: bool, title: str | None = None) -> Callable[[ToolFunc], ToolFunc]:
        def register(func: ToolFunc) -> ToolFunc:
            self._add(ToolSpec(name, func, description, read_only, title))
            return func

        return register

    def _add(self, spec: ToolSpec) -> None:
        if spec.name in self._tools:
            raise ValueError(f"tool {spec.name!r} is registered twice")
        self._tools[spec.name] = spec

    def include(self, *others: Toolbox) -> Toolbox:
        for other in others:
            for spec in other.tools:
                self._add(spec)
        return self

    @property
    def tools(self) -> list[ToolSpec]:
        return [self._tools[name] for name in sorted(self._tools)]


def build_mcp_server(toolbox: Toolbox, *, read_only: bool, version: str) -> MCPServer:
    """An MCP server offering the toolbox's tools; in read-only mode only those marked read-only."""
    from mcp.server.mcpserver import MCPServer
    from mcp.types import ToolAnnotations

    server: MCPServer = MCPServer(
        "forgebot",
        version=version,
        instructions="Find issues ready to start, read them, and claim them under a lease that expires. "
                     "Repositories are named owner/name; a repository your login cannot read is not found.",
    )
    for spec in selected(toolbox.tools, read_only):
        annotations = ToolAnnotations(
            title=spec.title, read_only_hint=spec.read_only, destructive_hint=False if not spec.read_only else None,
            open_world_hint=True,
        )
        server.add_tool(spec.func, name=spec.name, description=spec.description, annotations=annotations)
    return server


def selected(tools: Iterable[ToolSpec], read_only: bool) -> list[ToolSpec]:
    return [spec for spec in tools if spec.read_only or not read_only]
