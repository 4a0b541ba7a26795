"""A token as operators store it reaches the forge over a real socket, and one that cannot be
sent in a header is refused at start without being shown (tests/test_settings_secrets.py)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn

from bot.forges.provider import Forges
from tests.conftest import BOT, World, make_settings

pytestmark = pytest.mark.anyio


@contextlib.asynccontextmanager
async def emulator_on_loopback(world: World) -> AsyncIterator[str]:
    """The world's emulator served over a real socket: only a real HTTP client checks headers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(world.fake.app, lifespan="off", log_level="warning", http="h11"))
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_a_token_read_from_a_file_with_its_line_break_reaches_the_forge(world: World, tmp_path: Path) -> None:
    # `echo "$TOKEN" > file`, and environment files made from it, end the token with a line break.
    # Before, every request then failed with an error quoting the authorization header, token and all.
    token = world.fake.token(BOT) + "\n"
    async with emulator_on_loopback(world) as url:
        if world.platform == "github":
            settings = make_settings(tmp_path, github_token=token, github_api_url=url + "/api/v3")
        else:
            settings = make_settings(tmp_path, gitea_token=token, gitea_url=url)
        forges = Forges(settings)
        try:
            assert (await forges.get(world.platform).whoami()).login == BOT
        finally:
            await forges.aclose()
