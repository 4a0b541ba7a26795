"""Named leases and scheduled runs on PostgreSQL (interface: bot/storage/leases.py).

Taking a lease is one upsert whose WHERE only lets it through when the lease is free, expired or
the caller's own: replicas racing for it queue on the row (ON CONFLICT waits for the other
transaction and re-checks the WHERE on the row it committed), so exactly one of them wins.
"""

from __future__ import annotations

from typing import Any

from bot.storage.leases import Lease
from bot.storage.postgres.engine import PostgresEngine

COLUMNS = "name, holder, until, since"

ACQUIRE = f"""
    INSERT INTO leases (name, holder, until, since) VALUES (%(name)s, %(holder)s, %(until)s, %(now)s)
    ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until,
        since = CASE WHEN leases.holder = EXCLUDED.holder THEN leases.since ELSE EXCLUDED.since END
    WHERE leases.until <= %(now)s OR leases.holder = EXCLUDED.holder
    RETURNING {COLUMNS}
"""

TAKE_RUN = """
    INSERT INTO job_runs (job, fire_at, holder, ran_at) VALUES (%(job)s, %(fire_at)s, %(holder)s, %(now)s)
    ON CONFLICT (job) DO UPDATE SET fire_at = EXCLUDED.fire_at, holder = EXCLUDED.holder, ran_at = EXCLUDED.ran_at
    WHERE job_runs.fire_at < EXCLUDED.fire_at AND job_runs.fire_at <= EXCLUDED.fire_at - %(apart)s
    RETURNING job
"""


def _lease(row: Any) -> Lease:
    return Lease(row[0], row[1], float(row[2]), float(row[3]))


class PostgresLeases:
    def __init__(self, engine: PostgresEngine) -> None:
        self._engine = engine

    async def acquire(self, name: str, holder: str, ttl: float, now: float) -> Lease:
        params = {"name": name, "holder": holder, "until": now + ttl, "now": now}
        async with self._engine.connection() as conn:
            # Refused (someone else's lease in force): read who holds it. Should that lease be
            # released between the two statements, the row is gone; try again (a bounded race).
            for _ in range(3):
                taken = await (await conn.execute(ACQUIRE, params)).fetchone()
                if taken is not None:
                    return _lease(taken)
                held = await (await conn.execute(f"SELECT {COLUMNS} FROM leases WHERE name = %s", (name,))).fetchone()
                if held is not None:
                    return _lease(held)
        raise RuntimeError(f"lease {name!r} kept changing hands while it was read")

    async def release(self, name: str, holder: str) -> bool:
        async with self._engine.connection() as conn:
            cursor = await conn.execute("DELETE FROM leases WHERE name = %s AND holder = %s", (name, holder))
            return bool(cursor.rowcount == 1)

    async def current(self, name: str) -> Lease | None:
        async with self._engine.connection() as conn:
            row = await (await conn.execute(f"SELECT {COLUMNS} FROM leases WHERE name = %s", (name,))).fetchone()
        return _lease(row) if row else None

    async def all(self) -> list[Lease]:
        async with self._engine.connection() as conn:
            rows = await (await conn.execute(f"SELECT {COLUMNS} FROM leases ORDER BY name")).fetchall()
        return [_lease(row) for row in rows]

    async def take_run(self, job: str, fire_at: float, holder: str, now: float, apart: float = 0.0) -> bool:
        params = {"job": job, "fire_at": fire_at, "holder": holder, "now": now, "apart": apart}
        async with self._engine.connection() as conn:
            return await (await conn.execute(TAKE_RUN, params)).fetchone() is not None

    async def last_run(self, job: str) -> float | None:
        async with self._engine.connection() as conn:
            row = await (await conn.execute("SELECT fire_at FROM job_runs WHERE job = %s", (job,))).fetchone()
        return float(row[0]) if row else None
