"""The activity log: append-only in the database, hash-chained so any edit shows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot import activity
from bot.storage.sqlite.engine import Store


def _log(tmp_path: Path, n: int) -> Path:
    store = Store(tmp_path / "db")
    for i in range(n):
        store.run_sync(activity.append, activity.Entry("claim.granted", {"issue": i}, "github", "o/r", f"o/r#{i}", "alice"), 1_700_000_000.0 + i)
    store.close()
    return tmp_path / "db"


def test_an_untouched_chain_verifies(tmp_path: Path) -> None:
    conn = sqlite3.connect(_log(tmp_path, 5))
    verdict = activity.verify(conn)
    conn.close()
    assert (verdict.ok, verdict.rows) == (True, 5)


def test_the_database_refuses_updates_and_deletes(tmp_path: Path) -> None:
    conn = sqlite3.connect(_log(tmp_path, 2))
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE activity SET actor = 'mallory' WHERE id = 1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM activity WHERE id = 2")
    conn.close()


@pytest.mark.parametrize(
    ("tamper", "bad_id", "reason"),
    [
        ("UPDATE activity SET detail = '{\"issue\":99}' WHERE id = 3", 3, "changed"),
        ("DELETE FROM activity WHERE id = 2", 3, "missing"),
        ("UPDATE activity SET prev_hash = hash WHERE id = 4", 4, "does not point"),
    ],
)
def test_edits_made_around_the_triggers_are_found(tmp_path: Path, tamper: str, bad_id: int, reason: str) -> None:
    conn = sqlite3.connect(_log(tmp_path, 5))
    conn.execute("DROP TRIGGER activity_no_update")
    conn.execute("DROP TRIGGER activity_no_delete")
    conn.execute(tamper)
    conn.commit()
    verdict = activity.verify(conn)
    conn.close()
    assert not verdict.ok
    assert verdict.bad_id == bad_id and reason in verdict.reason


def test_recent_returns_newest_first_with_decoded_detail(tmp_path: Path) -> None:
    conn = sqlite3.connect(_log(tmp_path, 3))
    entries = activity.recent(conn, limit=2)
    conn.close()
    assert [e["id"] for e in entries] == [3, 2]
    assert entries[0]["detail"] == {"issue": 2} and entries[0]["actor"] == "alice"
