"""Settings: sources and their precedence, validation messages, the generated webhook secret."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from config.settings import SettingsError, ensure_webhook_secret, load_settings


def test_defaults_match_the_quick_start() -> None:
    s = load_settings()
    assert (s.host, s.port, s.database) == ("127.0.0.1", 8080, Path("var/forgebot.db"))
    assert s.max_body_bytes == 25 * 1024 * 1024
    assert s.max_attempts == 8
    assert s.webhook_secrets == []


def test_environment_uses_the_prefix_and_splits_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORGEBOT_WEBHOOK_SECRETS", "old-secret, new-secret")
    monkeypatch.setenv("FORGEBOT_WORKERS", "3")
    s = load_settings()
    assert s.secret_values() == (b"old-secret", b"new-secret")
    assert s.workers == 3


def test_flags_beat_environment_which_beats_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "forgebot.toml"
    config.write_text('port = 7000\nworkers = 5\nlog_format = "json"\n')
    monkeypatch.setenv("FORGEBOT_WORKERS", "6")
    s = load_settings(config_file=config, overrides={"port": 9000, "host": None})
    assert s.port == 9000  # flag
    assert s.workers == 6  # environment over file
    assert s.log_format == "json"  # file over default
    assert s.host == "127.0.0.1"  # a flag left unset does not count


def test_every_problem_gets_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORGEBOT_PORT", "99999")
    monkeypatch.setenv("FORGEBOT_LOG_FORMAT", "xml")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    problems = caught.value.problems
    assert len(problems) == 2
    assert any(p.startswith("FORGEBOT_PORT:") and "65535" in p for p in problems)
    assert any(p.startswith("FORGEBOT_LOG_FORMAT:") for p in problems)


def test_secret_values_are_never_echoed_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORGEBOT_GITEA_TOKEN", "super-secret-token")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "GITEA_URL" in str(caught.value)
    assert "super-secret-token" not in str(caught.value)


def test_unknown_keys_and_broken_files_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "forgebot.toml"
    config.write_text("prot = 1\n")
    with pytest.raises(SettingsError, match="prot: not a forgebot setting"):
        load_settings(config_file=config)
    config.write_text("port = = 1\n")
    with pytest.raises(SettingsError, match="--config"):
        load_settings(config_file=config)
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(config_file=tmp_path / "missing.toml")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FORGEBOT_GITHUB_APP_ID": "12"}, "go together"),
        ({"FORGEBOT_GITHUB_TOKEN": "t", "FORGEBOT_GITHUB_APP_ID": "1", "FORGEBOT_GITHUB_PRIVATE_KEY_FILE": __file__}, "not both"),
        ({"FORGEBOT_GITHUB_API_URL": "ftp://example"}, "http"),
        ({"FORGEBOT_GITEA_URL": "https://user:pw@gitea.example"}, "credentials"),
        ({"FORGEBOT_EXTRA_HANDLERS": "no_colon_here"}, "package.module:router"),
        ({"FORGEBOT_WEBHOOK_SECRETS": ","}, "only commas and spaces"),
    ],
)
def test_inconsistent_settings(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError, match=message):
        load_settings()


def test_serve_generates_a_private_secret_once(tmp_path: Path) -> None:
    s = load_settings(overrides={"webhook_secret_file": tmp_path / "var" / "webhook-secret"})
    first, path = ensure_webhook_secret(s)
    assert path == tmp_path / "var" / "webhook-secret"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(first.secret_values()[0]) == 64
    again, _ = ensure_webhook_secret(s)
    assert again.secret_values() == first.secret_values()


def test_a_configured_secret_wins_over_the_file(tmp_path: Path) -> None:
    s = load_settings(overrides={"webhook_secrets": "mine", "webhook_secret_file": tmp_path / "secret"})
    kept, path = ensure_webhook_secret(s)
    assert path is None and kept.secret_values() == (b"mine",)
    assert not (tmp_path / "secret").exists()


def test_a_secret_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("abc\n")
    secret.chmod(0o644)
    with pytest.raises(SettingsError, match="chmod 600"):
        ensure_webhook_secret(load_settings(overrides={"webhook_secret_file": secret}))


def test_the_unverified_budget_must_hold_two_bodies_of_the_largest_size() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(overrides={"max_body_bytes": 40 * 1024 * 1024})  # the 64 MiB default budget is too small now
    assert raised.value.problems == ["MAX_UNVERIFIED_BYTES must be at least twice MAX_BODY_BYTES"]
    fine = load_settings(overrides={"max_body_bytes": 40 * 1024 * 1024, "max_unverified_bytes": 80 * 1024 * 1024})
    assert (fine.max_unverified_bytes, fine.header_timeout_seconds, fine.body_timeout_seconds) == (80 * 1024 * 1024, 10.0, 30.0)
    assert fine.max_wal_bytes == 512 * 1024 * 1024 and fine.max_connections is None
