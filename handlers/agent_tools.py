"""MCP tools for agents: the agent API's operations (handlers/agent_ops.py), one tool each.

Each tool acts as the caller's login under the same rules as the HTTP API: a repository the login
cannot read is "not found", and every refusal is a tool error with the same words the API gives.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError

from bot.engine.context import Context
from bot.engine.toolbox import Toolbox, caller
from bot.forges.base import Forge
from handlers import agent_ops
from handlers.agent_ops import AgentFailure, Operation

toolbox = Toolbox()

PLATFORM = "github or gitea; needed only when the bot serves both"


async def _perform(repo: str, platform: str | None, operation: Operation[Any]) -> Any:
    who = caller()
    try:
        return await agent_ops.perform(who.make_context(), who.login, platform or who.platform, repo, operation)
    except AgentFailure as failure:
        raise ToolError(failure.message) from None


async def act(repo: str, platform: str | None, action: Callable[..., Awaitable[Any]], *arguments: Any) -> Any:
    """`action(ctx, forge, repo, login, *arguments)` as the caller, once it may read `repo`."""

    async def operation(ctx: Context, forge: Forge, repo: str, login: str) -> Any:
        return await action(ctx, forge, repo, login, *arguments)

    return await _perform(repo, platform, operation)


@toolbox.tool("list_ready_issues", read_only=True, title="Issues ready to start",
              description="Open issues of a repository (owner/name) that nobody holds and nothing blocks, oldest first. "
                          "`label` keeps only issues with that label.")
async def list_ready_issues(repo: str, label: str | None = None, platform: str | None = None) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await act(repo, platform, agent_ops.ready, label)
    return result


@toolbox.tool("read_issue", read_only=True, title="Read an issue",
              description="An issue with its description, labels, assignees, what it depends on (open or closed), "
                          "whether that blocks it, and who holds it until when.")
async def read_issue(repo: str, number: int, platform: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = await act(repo, platform, agent_ops.read_issue, number)
    return result


@toolbox.tool("list_claims", read_only=True, title="Claims in a repository",
              description="Who holds which issue of a repository, and until when.")
async def list_claims(repo: str, platform: str | None = None) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await _perform(repo, platform, agent_ops.list_claims)
    return result


@toolbox.tool("my_claims", read_only=True, title="My claims",
              description="The issues your login holds, in every repository it can read, and until when.")
async def my_claims(platform: str | None = None) -> list[dict[str, Any]]:
    who = caller()
    try:
        return await agent_ops.my_claims(who.make_context(), who.login, platform or who.platform)
    except AgentFailure as failure:
        raise ToolError(failure.message) from None


@toolbox.tool("claim_issue", read_only=False, title="Claim an issue",
              description="Take an issue: you are assigned and it is labelled for `duration` (30m, 4h, 2d; the "
                          "repository's default when left out, never past its maximum). Claiming again renews. "
                          "Refused while someone else holds it or it is blocked.")
async def claim_issue(repo: str, number: int, duration: str | None = None, platform: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = await act(repo, platform, agent_ops.claim, number, duration)
    return result


@toolbox.tool("extend_claim", read_only=False, title="Extend your claim",
              description="Make your claim on an issue last `duration` from now.")
async def extend_claim(repo: str, number: int, duration: str | None = None, platform: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = await act(repo, platform, agent_ops.extend, number, duration)
    return result


@toolbox.tool("release_claim", read_only=False, title="Release your claim",
              description="Let go of an issue you hold: you are unassigned and the claim label goes.")
async def release_claim(repo: str, number: int, platform: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = await act(repo, platform, agent_ops.release, number)
    return result
