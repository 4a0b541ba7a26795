"""The forge clients of one deployment, built from settings: one per configured platform."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import httpx

from bot import __version__
from bot.forges.base import Forge, ForgeError
from config.settings import SettingsError

if TYPE_CHECKING:
    from pathlib import Path

    from bot.events import Event
    from config.settings import Settings


KEY_SETTING = "FORGEBOT_GITHUB_PRIVATE_KEY_FILE"


class NotConfigured(ForgeError):
    """No credentials are configured for this platform."""


def _read_key(path: Path) -> str:
    try:
        # A PEM file is ASCII: anything else (a DER key, say) fails as "not a PEM key" below.
        return path.read_bytes().decode("ascii", "replace")
    except OSError as exc:
        raise SettingsError([f"{KEY_SETTING} {path}: cannot read: {exc.strerror}"]) from None


class Forges:
    """Creates clients lazily and shares one HTTP connection pool between them.

    `transport` lets tests route every request to the forge emulator in-process.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.sleep = sleep
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._clients: dict[str, Any] = {}
        self._logins: dict[str, str] = {}

    @property
    def configured(self) -> tuple[str, ...]:
        s = self.settings
        platforms = []
        if s.github_token is not None or s.github_app_id is not None:
            platforms.append("github")
        if s.gitea_url is not None and s.gitea_token is not None:
            platforms.append("gitea")
        return tuple(platforms)

    def build_configured(self) -> None:
        """Build every configured platform's client now, so that bad credentials stop a start."""
        for platform in self.configured:
            self.get(platform)

    def get(self, platform: str) -> Forge:
        client = self._clients.get(platform)
        if client is None:
            client = self._clients[platform] = self._build(platform)
        return client

    async def bot_login(self, platform: str) -> str:
        """The bot's own login on a platform (to recognise its own comments and access)."""
        login = self._logins.get(platform)
        if login is None:
            login = self._logins[platform] = (await self.get(platform).whoami()).login
        return login

    def for_event(self, event: Event) -> Forge:
        forge = self.get(event.platform)
        if event.platform == "github" and event.installation_id and event.repo is not None:
            forge.remember_installation(event.repo.full_name, event.installation_id)  # type: ignore[attr-defined]
        return forge

    def _http_client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                transport=self._transport,
                timeout=httpx.Timeout(30.0, connect=10.0),
                headers={"user-agent": f"forgebot/{__version__}"},
                follow_redirects=False,
            )
        return self._http

    def _build(self, platform: str) -> Forge:
        s = self.settings
        if platform not in self.configured:
            raise NotConfigured(f"no credentials for {platform}; see README, Settings", platform=platform)
        if platform == "github":
            from bot.forges.github import GitHubForge

            key_file = s.github_private_key_file
            key = _read_key(key_file) if key_file is not None else None
            try:
                return GitHubForge(
                    base_url=s.github_api_url,
                    http=self._http_client(),
                    token=s.github_token.get_secret_value() if s.github_token is not None else None,
                    app_id=s.github_app_id,
                    private_key=key,
                    clock=self.clock,
                    sleep=self.sleep,
                    max_wait=s.forge_max_wait_seconds,
                    write_interval=s.github_write_interval_seconds,
                )
            except ValueError:  # the settings were checked for everything but the key's content
                raise SettingsError([f"{KEY_SETTING} {key_file}: not an unencrypted PEM RSA key"]) from None
        from bot.forges.gitea import GiteaForge

        assert s.gitea_url is not None and s.gitea_token is not None
        return GiteaForge(
            base_url=s.gitea_url,
            token=s.gitea_token.get_secret_value(),
            http=self._http_client(),
            clock=self.clock,
            sleep=self.sleep,
            max_wait=s.forge_max_wait_seconds,
        )

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        if self._http is not None:
            await self._http.aclose()
            self._http = None
