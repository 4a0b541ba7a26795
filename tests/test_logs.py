"""Logs: structured fields in JSON and text, and secrets masked even if a caller slips."""

from __future__ import annotations

import json
import logging

import pytest

from bot import logs


@pytest.fixture(autouse=True)
def _restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_the_extra_fields(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure(fmt="json", level="info")
    logging.getLogger("bot.engine.inbox").info("delivery done", extra={"delivery": "d-1", "repo": "o/r", "issue": 4})
    line = json.loads(capsys.readouterr().err.strip())
    assert line["message"] == "delivery done" and line["level"] == "info" and line["logger"] == "bot.engine.inbox"
    assert (line["delivery"], line["repo"], line["issue"]) == ("d-1", "o/r", 4)


def test_text_lines_append_key_values(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure(fmt="text", level="warning")
    logging.getLogger("x").info("hidden")
    logging.getLogger("x").warning("refused", extra={"reason": "bad signature"})
    err = capsys.readouterr().err
    assert "hidden" not in err and "warning x: refused  reason=bad signature" in err


def test_configured_secrets_are_masked(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure(fmt="json", level="info", secrets=["hunter2-token", "abc"])
    try:
        raise ValueError("auth failed with hunter2-token")
    except ValueError:
        logging.getLogger("x").exception("oops %s", "hunter2-token", extra={"token": "hunter2-token"})
    logging.getLogger("x").info("abcdef")  # "abc" is too short to mask safely: words would vanish
    err = capsys.readouterr().err
    assert "hunter2-token" not in err and err.count("***") >= 3
    assert json.loads(err.strip().splitlines()[-1])["message"] == "abcdef"


def test_every_secret_of_the_settings_is_masked(capsys: pytest.CaptureFixture[str]) -> None:
    from config.settings import load_settings

    agents = {"alice": "alice-token-0123456789", "bot-7": "agent-seven-token-abcdef"}
    settings = load_settings(overrides={
        "webhook_secrets": "hook-secret-1,hook-secret-2",
        "github_token": "ghp_example_token",
        "admin_token": "admin-token-xyz",
        "agent_tokens": ",".join(f"{login}:{token}" for login, token in agents.items()),
    })
    logs.configure(fmt="text", level="info", secrets=settings.secret_strings())
    shown = ["hook-secret-1", "hook-secret-2", "ghp_example_token", "admin-token-xyz", *agents.values()]
    for secret in shown:
        logging.getLogger("x").warning("request with %s", secret, extra={"header": f"Bearer {secret}"})
    err = capsys.readouterr().err
    assert not [secret for secret in shown if secret in err]
    assert err.count("***") == 2 * len(shown)


def test_identical_lines_are_shown_once_per_window_with_the_count_held_back(capsys: pytest.CaptureFixture[str]) -> None:
    import time

    logs.configure(fmt="json", level="info", repeat_window=0.3)
    store_log = logging.getLogger("bot.storage.sqlite.engine")
    for n in range(5000):  # a full disk: the same failure for every delivery
        store_log.error("database commit failed", extra={"error": "database or disk is full", "delivery": f"d-{n}"})
    store_log.info("something else")  # other lines are not held back
    shown = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["message"] for line in shown] == ["database commit failed", "something else"]

    time.sleep(0.35)  # the window is over: the next line logged brings out the count
    store_log.warning("disk has room again")
    shown = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["message"], line.get("repeated")) for line in shown] == [
        ("database commit failed", 4999), ("disk has room again", None)
    ]
    assert shown[0]["delivery"] == "d-4999"  # the last one held back, with its own fields


def test_lines_held_back_come_out_when_logging_shuts_down(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure(fmt="text", level="info")
    for _ in range(3):
        logging.getLogger("bot.http.server").warning("request refused")
    for handler in logging.getLogger().handlers:
        handler.close()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and lines[1].endswith("request refused  repeated=2")
