"""The command line: help and version, exit codes, and each command against a real database."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bot.storage.sqlite import deliveries
from bot.cli.main import main
from bot.http.webhooks import Delivery
from bot.storage.activity import Entry
from bot.storage.sqlite import activity as activity_jobs
from bot.storage.sqlite.engine import Store
from tests.conftest import REFERENCE, World

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    clean = {k: v for k, v in os.environ.items() if not k.startswith("FORGEBOT_")}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, cwd=ROOT, env={**clean, **(env or {})}, timeout=60
    )


def test_version_and_help_everywhere() -> None:
    from bot import __version__

    assert run("--version").stdout.strip() == f"forgebot {__version__}"
    for command in (["serve"], ["deliveries"], ["replay"], ["receive"], ["activity", "verify"], ["activity", "list"]):
        result = run(*command, "--help")
        assert result.returncode == 0 and "usage: forgebot" in result.stdout, command
    bare = run()
    assert bare.returncode == 2 and "COMMAND" in bare.stderr


def test_invalid_settings_exit_2_with_one_line_each() -> None:
    result = run("deliveries", env={"FORGEBOT_PORT": "abc", "FORGEBOT_WORKERS": "0"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("forgebot: invalid setting: FORGEBOT_") for line in lines)
    assert "Traceback" not in result.stderr


def test_missing_database_is_a_usage_error(tmp_path: Path) -> None:
    result = run("deliveries", env={"FORGEBOT_DATABASE": str(tmp_path / "none.db")})
    assert result.returncode == 2 and "no database" in result.stderr


def _seed(tmp_path: Path, *rows: tuple[str, str, bytes, str]) -> Path:
    db = tmp_path / "forgebot.db"
    store = Store(db)
    for delivery_id, event, body, status in rows:
        row_id = store.run_sync(deliveries.insert, Delivery("github", delivery_id, event, None, "application/json", body), time.time())
        store.run_sync(deliveries.finish, row_id, status, time.time(), "RuntimeError: boom" if status == "dead" else None)
    store.close()
    return db


def test_deliveries_lists_and_filters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database_settings: dict[str, Any]
) -> None:
    import asyncio

    from bot.storage.open import open_storage
    from tests.conftest import make_settings

    ping = (REFERENCE / "github-webhooks" / "ping.json").read_bytes()

    async def seed() -> None:
        storage = open_storage(make_settings(tmp_path, **database_settings))
        await storage.start()
        for delivery_id, status in (("ok-1", "done"), ("bad-1", "dead")):
            row_id = await storage.deliveries.insert(Delivery("github", delivery_id, "ping", None, "application/json", ping), time.time())
            await storage.deliveries.finish(row_id, status, time.time(), "RuntimeError: boom" if status == "dead" else None)
        await storage.stop()

    asyncio.run(seed())
    monkeypatch.setenv("FORGEBOT_DATABASE", str(tmp_path / "forgebot.db"))
    if "database_url" in database_settings:
        monkeypatch.setenv("FORGEBOT_DATABASE_URL", database_settings["database_url"])
    assert main(["deliveries"]) == 0
    out = capsys.readouterr().out
    assert "ok-1" in out and "bad-1" in out and "RuntimeError: boom" in out
    assert main(["deliveries", "--failed", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [d["id"] for d in listed] == ["bad-1"] and listed[0]["status"] == "dead"


def test_receive_runs_the_handlers_once_and_says_what_happened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FORGEBOT_DATABASE", str(tmp_path / "forgebot.db"))
    assert main(["receive", "--platform", "github", "--event", "ping", str(REFERENCE / "github-webhooks" / "ping.json")]) == 0
    out = capsys.readouterr().out
    assert "event:    ping (github)" in out and "handlers.meta.record_ping" in out
    assert "recorded: hook.ping" in out and "outcome:  done" in out
    assert main(["receive", "--platform", "gitea", "--event", "pull_request_review_approved", str(REFERENCE / "gitea-webhooks" / "pull_request_approved.reviewed.json")]) == 0
    out = capsys.readouterr().out
    assert "pull_request_review.submitted (gitea)" in out and "outcome:  ignored" in out


def test_receive_refuses_a_broken_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FORGEBOT_DATABASE", str(tmp_path / "forgebot.db"))
    broken = tmp_path / "broken.json"
    broken.write_text("{nope")
    with pytest.raises(SystemExit) as caught:
        main(["receive", "--platform", "github", "--event", "ping", str(broken)])
    assert caught.value.code == 2 and "not valid JSON" in capsys.readouterr().err


def test_replay_runs_a_dead_letter_and_records_the_outcome(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    ping = (REFERENCE / "github-webhooks" / "ping.json").read_bytes()
    db = _seed(tmp_path, ("dead-ping", "ping", ping, "dead"))
    monkeypatch.setenv("FORGEBOT_DATABASE", str(db))
    monkeypatch.setenv("FORGEBOT_EXTRA_HANDLERS", "tests.support.handlers:failing")
    assert main(["replay", "dead-ping"]) == 1
    assert "handler refused on purpose" in capsys.readouterr().err
    monkeypatch.delenv("FORGEBOT_EXTRA_HANDLERS")
    assert main(["replay", "dead-ping"]) == 0
    assert "recorded: hook.ping" in capsys.readouterr().out
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT status, last_error FROM deliveries").fetchall() == [("done", None)]
    conn.close()
    with pytest.raises(SystemExit) as caught:
        main(["replay", "never-seen"])
    assert caught.value.code == 2


def test_activity_verify_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "forgebot.db"
    store = Store(db)
    for n in range(3):
        store.run_sync(activity_jobs.append, Entry("test", {"n": n}), float(n))
    store.close()
    monkeypatch.setenv("FORGEBOT_DATABASE", str(db))
    assert main(["activity", "verify"]) == 0
    assert "intact: 3 entries" in capsys.readouterr().out
    assert main(["activity", "list", "--limit", "2"]) == 0
    assert capsys.readouterr().out.count("\n") == 2
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER activity_no_update")
    conn.execute("UPDATE activity SET kind = 'forged' WHERE id = 2")
    conn.commit()
    conn.close()
    assert main(["activity", "verify"]) == 1
    assert "broken at entry 2" in capsys.readouterr().out


# -- receive and replay against a served forge, on both platforms -------------------------------


def claim_payload(platform: str, number: int, comment_id: int, login: str, body: str = "/claim") -> dict[str, Any]:
    """The recorded issue_comment payload of `platform`, pointed at acme/widgets#number."""
    from tests.conftest import REPO

    payload = json.loads((REFERENCE / f"{platform}-webhooks" / "issue_comment.created.json").read_text())
    owner, name = REPO.split("/")
    user = {"login": login, "id": 1000, **({"username": login} if platform == "gitea" else {})}
    payload["repository"].update({"full_name": REPO, "name": name, "owner": {**payload["repository"]["owner"], "login": owner}})
    if platform == "gitea":
        payload["repository"]["owner"]["username"] = owner
    payload["issue"].update({"number": number, "labels": [], "assignee": None, "assignees": [], "state": "open"})
    payload["issue"].pop("pull_request", None)
    payload["comment"].update({"id": comment_id, "body": body, "user": user})
    payload["sender"] = user
    return payload


async def _cli(*args: str) -> int:
    import asyncio

    try:
        return await asyncio.to_thread(main, list(args))
    except SystemExit as exit_:
        return int(exit_.code or 0)


@pytest.mark.anyio
async def test_receive_and_replay_a_claim_against_the_forge(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import REPO
    from tests.test_claims import bot_comments
    from tests.test_cli_repos import _env

    number = await world.actor("bob").open_issue(REPO, "Fix the widget")
    comment_id = await world.actor("alice").comment(REPO, number, "/claim")
    payload = tmp_path / "claim.json"
    payload.write_text(json.dumps(claim_payload(world.platform, number, comment_id, "alice")))
    async with world.fake.serve() as base:
        _env(world, base, tmp_path, monkeypatch)
        assert await _cli("receive", "--platform", world.platform, "--event", "issue_comment", str(payload)) == 0
        out = capsys.readouterr().out
        assert "handlers.commands" in out and "recorded: claim" in out and "outcome:  done" in out
        assert world.state().issue(number).assignees == ["alice"]
        assert world.label_names(number) == ["status/claimed"]
        assert len(bot_comments(world, number)) == 1

        # The same comment stored as a dead letter, replayed: the claim is renewed, not doubled.
        body = payload.read_bytes()
        delivery = Delivery(world.platform, "claim-1", "issue_comment", "issue_comment" if world.platform == "gitea" else None, "application/json", body)
        store = Store(tmp_path / "cli.db")
        row_id = store.run_sync(deliveries.insert, delivery, time.time())
        store.run_sync(deliveries.finish, row_id, "dead", time.time(), "RateLimited: try later")
        store.close()
        assert await _cli("replay", "claim-1") == 0
        assert "outcome:  done" in capsys.readouterr().out
        assert await _cli("deliveries", "--json") == 0
        [listed] = json.loads(capsys.readouterr().out)
        assert (listed["id"], listed["event"], listed["status"]) == ("claim-1", "issue_comment.created", "done")
    assert world.state().issue(number).assignees == ["alice"]
    conn = sqlite3.connect(tmp_path / "cli.db")
    assert conn.execute("SELECT status FROM deliveries").fetchall() == [("done",)]
    conn.close()


def _ec_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


@pytest.mark.parametrize("content", ["not a key at all\n", "ec"], ids=["garbage", "ec-key"])
def test_a_github_app_key_that_does_not_load_is_one_line_at_start(tmp_path: Path, content: str) -> None:
    key = tmp_path / "app.pem"
    key.write_text(_ec_key() if content == "ec" else content)
    env = {
        "FORGEBOT_GITHUB_APP_ID": "12",
        "FORGEBOT_GITHUB_PRIVATE_KEY_FILE": str(key),
        "FORGEBOT_DATABASE": str(tmp_path / "forgebot.db"),
        "FORGEBOT_WEBHOOK_SECRETS": "s3cret",
    }
    expected = f"forgebot: invalid setting: FORGEBOT_GITHUB_PRIVATE_KEY_FILE {key}: not an unencrypted PEM RSA key"
    from tests.test_serve import free_port

    for command in (["plan", "acme/widgets"], ["serve", "--port", str(free_port())]):
        result = run(*command, env=env)  # serve would keep running if it did not check at start
        assert (result.returncode, result.stderr.strip()) == (2, expected), command


@pytest.mark.parametrize(("given", "said"), [("abc", "'abc' is not a whole number"), ("0", "must be at least 1")])
def test_a_bad_limit_is_one_plain_line(given: str, said: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["deliveries", "--limit", given])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"forgebot deliveries: error: argument --limit: {said}"
