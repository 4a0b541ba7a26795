"""Named leases and scheduled runs on SQLite (interface: bot/storage/leases.py).

One process owns the file, so it takes every lease it asks for, except for the rest of a lease a
former process left behind when it was killed (at most one lease length): the same rules as on
PostgreSQL, with the same SQL, so the engine has one code path.
"""

from __future__ import annotations

import sqlite3

from bot.storage.leases import Lease
from bot.storage.sqlite.engine import Store, single_statement


def acquire(conn: sqlite3.Connection, name: str, holder: str, ttl: float, now: float) -> Lease:
    # The upsert changes nothing when someone else's lease is still in force; either way the row
    # read back is the lease in force. Both run in the job's SAVEPOINT, so nothing comes between.
    conn.execute(
        "INSERT INTO leases (name, holder, until, since) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until,"
        "   since = CASE WHEN leases.holder = excluded.holder THEN leases.since ELSE excluded.since END"
        " WHERE leases.until <= ? OR leases.holder = excluded.holder",
        (name, holder, now + ttl, now, now),
    )
    lease = current(conn, name)
    assert lease is not None
    return lease


@single_statement
def release(conn: sqlite3.Connection, name: str, holder: str) -> bool:
    return conn.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder)).rowcount == 1


@single_statement
def current(conn: sqlite3.Connection, name: str) -> Lease | None:
    row = conn.execute("SELECT name, holder, until, since FROM leases WHERE name = ?", (name,)).fetchone()
    return Lease(*row) if row else None


@single_statement
def listing(conn: sqlite3.Connection) -> list[Lease]:
    return [Lease(*row) for row in conn.execute("SELECT name, holder, until, since FROM leases ORDER BY name")]


@single_statement
def take_run(conn: sqlite3.Connection, job: str, fire_at: float, holder: str, now: float, apart: float) -> bool:
    taken = conn.execute(
        "INSERT INTO job_runs (job, fire_at, holder, ran_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (job) DO UPDATE SET fire_at = excluded.fire_at, holder = excluded.holder, ran_at = excluded.ran_at"
        " WHERE job_runs.fire_at < excluded.fire_at AND job_runs.fire_at <= excluded.fire_at - ?",
        (job, fire_at, holder, now, apart),
    )
    return taken.rowcount == 1


@single_statement
def last_run(conn: sqlite3.Connection, job: str) -> float | None:
    row = conn.execute("SELECT fire_at FROM job_runs WHERE job = ?", (job,)).fetchone()
    return float(row[0]) if row else None


class SqliteLeases:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def acquire(self, name: str, holder: str, ttl: float, now: float) -> Lease:
        return await self._store.run(acquire, name, holder, ttl, now)

    async def release(self, name: str, holder: str) -> bool:
        return await self._store.run(release, name, holder)

    async def current(self, name: str) -> Lease | None:
        return await self._store.run(current, name)

    async def all(self) -> list[Lease]:
        return await self._store.run(listing)

    async def take_run(self, job: str, fire_at: float, holder: str, now: float, apart: float = 0.0) -> bool:
        return await self._store.run(take_run, job, fire_at, holder, now, apart)

    async def last_run(self, job: str) -> float | None:
        return await self._store.run(last_run, job)
