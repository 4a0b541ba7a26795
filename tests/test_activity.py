"""The activity log from the command line, on either backend (the log itself: tests/storage/test_activity.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.cli.main import main
from bot.storage.activity import Entry
from bot.storage.open import open_storage
from tests.conftest import make_settings
from tests.storage.replicas import execute


def _on_database(tmp_path: Path, database_settings: dict[str, Any], *statements: str, entries: int = 0) -> None:
    async def work() -> None:
        storage = open_storage(make_settings(tmp_path, **database_settings))
        await storage.start()
        try:
            for n in range(entries):
                await storage.activity.append(Entry("test", {"n": n}, "github", "o/r"), 1_700_000_000.0 + n)
            for sql in statements:
                await execute(storage, sql)
        finally:
            await storage.stop()

    asyncio.run(work())


def test_activity_verify_and_list_read_either_database(
    backend: str, database_settings: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _on_database(tmp_path, database_settings, entries=3)
    if backend == "postgresql":
        monkeypatch.setenv("FORGEBOT_DATABASE_URL", database_settings["database_url"])
    else:
        monkeypatch.setenv("FORGEBOT_DATABASE", str(tmp_path / "forgebot.db"))
    assert main(["activity", "verify"]) == 0
    assert "intact: 3 entries" in capsys.readouterr().out
    assert main(["activity", "list", "--limit", "2"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == ["2", "3"]  # oldest of the two first, as a log reads
    assert '{"n": 2}' in listed[-1] and "o/r" in listed[-1]

    untriggered = ["ALTER TABLE activity DISABLE TRIGGER USER"] if backend == "postgresql" else ["DROP TRIGGER activity_no_update"]
    _on_database(tmp_path, database_settings, *untriggered, "UPDATE activity SET kind = 'forged' WHERE id = 2")
    assert main(["activity", "verify"]) == 1
    out = capsys.readouterr().out
    assert "broken at entry 2" in out and "changed after it was written" in out and "1 entries verified" in out
