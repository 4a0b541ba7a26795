"""Comments the bot owns: a hidden marker names each one, so retries never post twice.

`<!-- forgebot:KEY -->` ends every bot comment. Before posting, the bot looks for its own
comment with that key: a status comment is edited in place, a one-time message is skipped.
"""

from __future__ import annotations

import re

from bot.forges.base import Comment, Forge

MARKER_RE = re.compile(r"<!-- forgebot:([A-Za-z0-9_.:/#-]+) -->")


def marker(key: str) -> str:
    return f"<!-- forgebot:{key} -->"


def with_marker(body: str, key: str) -> str:
    return f"{body.rstrip()}\n\n{marker(key)}"


def is_bot_comment(body: str) -> bool:
    return MARKER_RE.search(body) is not None


async def find_own(forge: Forge, repo: str, number: int, key: str, bot_login: str | None) -> Comment | None:
    wanted = marker(key)
    for comment in await forge.list_comments(repo, number):
        if wanted in comment.body and (bot_login is None or (comment.author or "").lower() == bot_login.lower()):
            return comment
    return None


async def upsert_comment(forge: Forge, repo: str, number: int, key: str, body: str, bot_login: str | None) -> Comment:
    """The one comment with this key: edited when it exists and says something else, else created."""
    text = with_marker(body, key)
    existing = await find_own(forge, repo, number, key, bot_login)
    if existing is None:
        return await forge.create_comment(repo, number, text)
    if existing.body.strip() == text.strip():
        return existing
    return await forge.edit_comment(repo, existing.id, text)


async def post_once(forge: Forge, repo: str, number: int, key: str, body: str, bot_login: str | None) -> Comment | None:
    """Post unless a comment with this key is already there; None when it was."""
    if await find_own(forge, repo, number, key, bot_login) is not None:
        return None
    return await forge.create_comment(repo, number, with_marker(body, key))
