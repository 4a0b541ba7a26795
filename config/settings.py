"""The bot's own settings: environment (FORGEBOT_*), an optional TOML file, and CLI flags.

Precedence, highest first: values passed by the CLI, environment variables, the TOML file,
defaults. Nothing is read at import time; `load_settings` builds one object and the caller
passes it down.
"""

from __future__ import annotations

import difflib
import os
import re
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from config.repo import HOOK_SECRET_PREFIX, parse_duration

ENV_PREFIX = "FORGEBOT_"
MiB = 1024 * 1024

CommaList = Annotated[list[str], NoDecode]

# Settings whose values an error may quote. Every other one (tokens, secrets, and the URLs, which
# could carry a password) is named without its value: a setting added later stays unquoted until
# someone decides it may be shown.
QUOTABLE = frozenset({
    "host", "port", "database", "database_pool_size", "replica_id", "leader_lease_seconds", "worktree_host", "sqlite_synchronous", "webhook_secret_file", "max_body_bytes",
    "github_app_id", "github_private_key_file", "gitea_repos", "reconcile_interval", "delivery_retention",
    "reconcile_concurrency", "forge_max_wait_seconds", "github_write_interval_seconds", "workers",
    "max_attempts", "retry_base_seconds", "retry_max_seconds", "handler_timeout_seconds", "delivery_lease_seconds",
    "shutdown_grace_seconds", "extra_handlers", "log_format", "log_level", "mcp_read_only",
    "git_root", "worktrees_max", "git_min_free", "cleanup_interval", "cleanup_jitter",
    "header_timeout_seconds", "body_timeout_seconds", "max_connections", "max_unverified_bytes", "max_incomplete_head_bytes", "max_wal_bytes",
})

# FORGEBOT_ variables the project reads that are not settings: the hook secrets repository configs
# name (secret_env), where the tests find recorded data, and the test suite's own knobs.
NOT_SETTINGS = ("FORGEBOT_REFERENCE",)
NOT_SETTINGS_PREFIXES = (HOOK_SECRET_PREFIX, "FORGEBOT_TEST_")


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every setting forgebot reads; see README "Settings" for each one's meaning."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        validate_default=True,
        frozen=True,
    )

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    database: Path = Path("var/forgebot.db")
    # sqlite:///path (the default: `database`) or postgresql://... for several replicas (README,
    # "When one machine is not enough"). A secret: a PostgreSQL URL may carry a password.
    database_url: SecretStr | None = None
    database_pool_size: int = Field(10, ge=2, le=200)  # PostgreSQL connections per replica, at most
    replica_id: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "NORMAL"
    # Replicas: the scheduler's leader holds a lease this long, renewed every third of it; a dead
    # leader's jobs move to another replica within it. Replicas with `worktree_host` compete for
    # the worktree root (the 'worktrees' lease): set it off where the git root is not on local disk.
    leader_lease_seconds: float = Field(15.0, ge=1.0, le=600.0)
    worktree_host: bool = True

    webhook_secrets: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    webhook_secret_file: Path = Path("var/webhook-secret")
    max_body_bytes: int = Field(25 * MiB, ge=1024)
    max_unverified_bytes: int = Field(64 * MiB, ge=4096)
    max_incomplete_head_bytes: int = Field(16 * MiB, ge=4096)
    header_timeout_seconds: float = Field(10.0, gt=0)
    body_timeout_seconds: float = Field(30.0, gt=0)
    max_connections: int | None = Field(None, ge=1)
    max_wal_bytes: int = Field(512 * MiB, ge=MiB)

    github_app_id: int | None = Field(None, ge=1)
    github_private_key_file: Path | None = None
    github_token: SecretStr | None = None
    github_api_url: str = "https://api.github.com"
    gitea_url: str | None = None
    gitea_token: SecretStr | None = None
    gitea_repos: CommaList = Field(default_factory=list)
    public_url: str | None = None
    reconcile_interval: str = "1h"
    delivery_retention: str = "14d"
    reconcile_concurrency: int = Field(4, ge=1, le=64)
    forge_max_wait_seconds: float = Field(60.0, ge=0)
    github_write_interval_seconds: float = Field(0.0, ge=0)

    workers: int = Field(16, ge=1, le=256)
    max_attempts: int = Field(8, ge=1, le=100)
    retry_base_seconds: float = Field(2.0, gt=0)
    retry_max_seconds: float = Field(600.0, gt=0)
    handler_timeout_seconds: float = Field(300.0, gt=0)
    # PostgreSQL: how long a replica holds a delivery it runs before another may take it over
    # (renewed every third of it while the handler runs).
    delivery_lease_seconds: float = Field(30.0, ge=0.1, le=3600)
    shutdown_grace_seconds: float = Field(20.0, ge=0)
    extra_handlers: CommaList = Field(default_factory=list)

    log_format: Literal["json", "text"] = "text"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    admin_token: SecretStr | None = None
    agent_tokens: SecretStr | None = None  # "login:token,login:token": bearer tokens of agents, each acting as that login
    viewer_tokens: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)  # sign in to /status (as does the admin token)
    mcp_read_only: bool = False  # /mcp and `forgebot mcp` list only the read-only tools

    # Worktrees (handlers/worktrees.py): where mirrors and worktrees live, how many, how much disk to leave free.
    git_root: Path = Path("var/git")
    worktrees_max: int = Field(200, ge=0)
    git_min_free: str = "1G"

    # Stale-branch cleanup (handlers/cleanup.py): how often each repository is looked at, and the
    # most a repository's run is delayed within that pass (spread by repository name).
    cleanup_interval: str = "6h"
    cleanup_jitter: str = "10m"

    def agent_logins(self) -> dict[str, str]:
        """token -> platform login, from AGENT_TOKENS."""
        if self.agent_tokens is None:
            return {}
        pairs = (item.strip().partition(":") for item in self.agent_tokens.get_secret_value().split(","))
        return {token.strip(): login.strip() for login, _, token in pairs if login.strip() and token.strip()}

    @field_validator("database_url")
    @classmethod
    def _database_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        # Checked here so that a mistyped URL is one settings error for every command; the URL
        # itself is never quoted (it may carry a password). bot/storage/url.py reads the rest.
        if value is not None:
            url = value.get_secret_value()
            if not url.lower().startswith(("sqlite:///", "postgresql://", "postgres://")) or url.lower() == "sqlite:///":
                raise ValueError("must be sqlite:///path/to/forgebot.db or postgresql://user@host/database")
        return value

    @field_validator("webhook_secrets", "extra_handlers", "gitea_repos", "viewer_tokens", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        parts = _split_commas(value)
        # Only separators is a mistake, not "none": for webhook secrets, falling back to a generated
        # one would make every delivery of the hooks meant to be configured fail its signature.
        if isinstance(value, str) and value and not parts:
            raise ValueError("holds only commas and spaces; give at least one value, or unset it for the default")
        return parts

    @field_validator("webhook_secrets")
    @classmethod
    def _no_empty_secret(cls, value: list[SecretStr]) -> list[SecretStr]:
        if any(not s.get_secret_value() for s in value):
            raise ValueError("a webhook secret may not be empty")
        return value

    @field_validator("viewer_tokens")
    @classmethod
    def _long_enough(cls, value: list[SecretStr]) -> list[SecretStr]:
        if any(len(s.get_secret_value()) < 16 for s in value):
            raise ValueError("each viewer token must have at least 16 characters")
        return value

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lowercase(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("reconcile_interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        if parse_duration(value).total_seconds() < 60:
            raise ValueError("must be at least 1m")
        return value

    @field_validator("gitea_repos")
    @classmethod
    def _repo_names(cls, value: list[str]) -> list[str]:
        for name in value:
            owner, _, repo = name.partition("/")
            if not owner or not repo or "/" in repo:
                raise ValueError(f"{name!r} is not of the form owner/name")
        return value

    @field_validator("delivery_retention")
    @classmethod
    def _retention(cls, value: str) -> str:
        if parse_duration(value).total_seconds() < 3600:
            raise ValueError("must be at least 1h")
        return value

    @property
    def retention_seconds(self) -> float:
        return parse_duration(self.delivery_retention).total_seconds()

    @property
    def reconcile_seconds(self) -> float:
        return parse_duration(self.reconcile_interval).total_seconds()

    @field_validator("cleanup_interval", "cleanup_jitter")
    @classmethod
    def _cleanup_durations(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def cleanup_seconds(self) -> float:
        return max(60.0, parse_duration(self.cleanup_interval).total_seconds())

    @property
    def cleanup_jitter_seconds(self) -> float:
        return parse_duration(self.cleanup_jitter).total_seconds()

    @field_validator("github_api_url", "gitea_url", "public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        if "@" in value.split("/", 3)[2]:
            raise ValueError("must not carry credentials; use the token setting instead")
        return value.rstrip("/")

    @field_validator("github_token", "gitea_token", "admin_token")
    @classmethod
    def _header_token(cls, value: SecretStr | None) -> SecretStr | None:
        """A token goes into an HTTP header. A line break in it (a file written with `echo` ends
        with one, and so does an environment file made from it) made the HTTP client refuse every
        request with an error quoting the header, token and all. Surrounding whitespace is
        dropped; anything else but visible ASCII is refused, unquoted."""
        if value is None:
            return None
        token = value.get_secret_value().strip()
        if not token or not all("!" <= char <= "~" for char in token):
            raise ValueError("must be visible ASCII characters, without spaces or line breaks (it is sent in an HTTP header)")
        return SecretStr(token)

    @field_validator("extra_handlers")
    @classmethod
    def _module_paths(cls, value: list[str]) -> list[str]:
        for item in value:
            module, _, attr = item.partition(":")
            if not module or not attr:
                raise ValueError(f"{item!r} is not of the form package.module:router")
        return value

    @field_validator("git_min_free")
    @classmethod
    def _size(cls, value: str) -> str:
        parse_size(value)
        return value

    def git_min_free_bytes(self) -> int:
        return parse_size(self.git_min_free)

    @field_validator("agent_tokens")
    @classmethod
    def _agent_pairs(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        for item in value.get_secret_value().split(","):
            login, sep, token = item.strip().partition(":")
            if not sep or not login.strip() or len(token.strip()) < 16:
                raise ValueError("each entry must be login:token, with a token of at least 16 characters")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if (self.github_app_id is None) != (self.github_private_key_file is None):
            raise ValueError(
                "GITHUB_APP_ID and GITHUB_PRIVATE_KEY_FILE go together: set both or neither"
            )
        if self.github_app_id is not None and self.github_token is not None:
            raise ValueError("set either a GitHub App (GITHUB_APP_ID) or GITHUB_TOKEN, not both")
        key = self.github_private_key_file
        if key is not None and not key.is_file():
            raise ValueError(f"GITHUB_PRIVATE_KEY_FILE {key} does not exist or is not a file")
        if self.gitea_token is not None and self.gitea_url is None:
            raise ValueError("GITEA_TOKEN is set but GITEA_URL is not")
        if self.max_unverified_bytes < 2 * self.max_body_bytes:
            # Large bodies may hold half of the budget: below this a body of the largest
            # accepted size could never be taken in.
            raise ValueError("MAX_UNVERIFIED_BYTES must be at least twice MAX_BODY_BYTES")
        if self.retry_max_seconds < self.retry_base_seconds:
            raise ValueError("RETRY_MAX_SECONDS must be at least RETRY_BASE_SECONDS")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: tuple[PydanticBaseSettingsSource, ...] = (init_settings, env_settings)
        if settings_cls.model_config.get("toml_file"):
            sources += (TomlConfigSettingsSource(settings_cls),)
        return sources

    def secret_values(self) -> tuple[bytes, ...]:
        return tuple(s.get_secret_value().encode() for s in self.webhook_secrets)

    def secret_strings(self) -> tuple[str, ...]:
        """Every secret the settings hold, each agent token on its own: what logs must never show."""
        values = [s.get_secret_value() for s in (*self.webhook_secrets, *self.viewer_tokens)]
        for token in (self.github_token, self.gitea_token, self.admin_token, self.agent_tokens):
            if token is not None:
                values.append(token.get_secret_value())
        values.extend(self.agent_logins())
        return tuple(values)


SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """'500M', '2G', '1048576' -> bytes (powers of 1024)."""
    match = SIZE_RE.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a size; write it like 500M or 2G")
    return int(float(match.group(1)) * 1024 ** " KMGT".index(match.group(2).upper() or " "))


class SettingsError(Exception):
    """Invalid settings; `problems` holds one human-readable line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def load_settings(
    *, config_file: Path | None = None, overrides: dict[str, Any] | None = None
) -> Settings:
    """Build settings from CLI overrides, the environment and an optional TOML file."""
    if config_file is not None and not config_file.is_file():
        raise SettingsError([f"--config: {config_file} does not exist or is not a file"])
    clean = {k: v for k, v in (overrides or {}).items() if v is not None}
    settings_cls: type[Settings] = Settings
    if config_file is not None:
        # The file's path reaches the sources through the class's config, so a subclass per file.
        config = SettingsConfigDict(**{**Settings.model_config, "toml_file": config_file})
        settings_cls = type("FileSettings", (Settings,), {"model_config": config})
    try:
        return settings_cls(**clean)
    except ValidationError as exc:
        raise SettingsError([_describe(err) for err in exc.errors()]) from None
    except ValueError as exc:  # a TOML syntax error surfaces as tomllib.TOMLDecodeError (its text has no values)
        raise SettingsError([f"--config {config_file}: {exc}" if config_file is not None else str(exc)]) from None


def _describe(err: Any) -> str:
    loc = [str(part) for part in err.get("loc", ()) if part != "__root__"]
    message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    if not loc:
        return message
    name = ENV_PREFIX + loc[0].upper()
    if err.get("type") == "extra_forbidden":
        return f"{loc[0]}: not a forgebot setting"
    value = err.get("input")
    shown = f" (got {value!r})" if loc[0] in QUOTABLE and not isinstance(value, dict) else ""
    return f"{name}: {message}{shown}"


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A warning line for each FORGEBOT_ variable that is no setting (the environment source
    ignores them), naming the closest one; never the value, which may be a secret."""
    known = [name.upper() for name in Settings.model_fields]
    warnings = []
    for variable in sorted(environ):
        name = variable.upper()  # settings are read from the environment in any case
        if not name.startswith(ENV_PREFIX) or name.startswith(NOT_SETTINGS_PREFIXES) or name in NOT_SETTINGS:
            continue
        bare = name.removeprefix(ENV_PREFIX)  # compared without the prefix, which every name shares
        if bare in known:
            continue
        closest = difflib.get_close_matches(bare, known, n=1)
        hint = f"; did you mean {ENV_PREFIX}{closest[0]}?" if closest else "; see the Settings section of the README"
        warnings.append(f"{variable} is not a forgebot setting and is ignored{hint}")
    return warnings


def ensure_webhook_secret(settings: Settings) -> tuple[Settings, Path | None]:
    """Return settings with at least one webhook secret.

    Without a configured secret, the secret file is read, or created with a fresh random
    secret (mode 0600). The second value is the file's path when the secret came from it, so
    the caller can say where it is.
    """
    if settings.webhook_secrets:
        return settings, None
    path = settings.webhook_secret_file
    if path.exists():
        secret = path.read_text().strip()
        if not secret:
            raise SettingsError([f"{path}: the webhook secret file is empty"])
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SettingsError([f"{path}: readable by others; run chmod 600 {path}"])
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_hex(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secret + "\n")
    updated = settings.model_copy(update={"webhook_secrets": [SecretStr(secret)]})
    return updated, path
