"""SQLite storage: one database thread, group commit, numbered migrations.

Every read and write of the running service goes through `Store.run(job)`. Jobs are plain
functions `job(conn, *args)`; the database thread takes whatever jobs are waiting, runs each
inside its own SAVEPOINT of one shared transaction, commits once, and only then resolves the
callers' futures. A webhook is therefore answered only after its row is on disk, and many
concurrent deliveries share one commit (and one fsync) instead of paying for one each.

The CLI, which has no event loop, runs the same job functions with `Store.run_sync`.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bot.migrations import MIGRATIONS

logger = logging.getLogger(__name__)

T = TypeVar("T")
Job = Callable[..., Any]

# Upper bound on jobs per transaction: keeps one commit's latency bounded under a flood.
MAX_BATCH = 512


@dataclass(slots=True)
class _Pending:
    job: Job
    args: tuple[Any, ...]
    future: asyncio.Future[Any]


_STOP = object()


class StoreClosed(RuntimeError):
    """The store was closed while a job was waiting."""


def connect(path: Path, *, synchronous: str = "FULL") -> sqlite3.Connection:
    """Open the database in WAL mode with autocommit off (transactions are explicit)."""
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'FULL' else 'NORMAL'}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Apply the numbered migrations not yet applied; return the versions applied now."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations"
        " (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    applied = []
    for version, script in MIGRATIONS:
        if version in done:
            continue
        # executescript commits on its own; wrap the whole migration in one transaction.
        conn.executescript(
            f"BEGIN IMMEDIATE;\n{script}\n"
            f"INSERT INTO schema_migrations VALUES ({int(version)}, {time.time()});\nCOMMIT;"
        )
        applied.append(version)
    return applied


class Store:
    """The database, owned by one thread while the service runs."""

    def __init__(self, path: Path, *, synchronous: str = "FULL") -> None:
        self.path = path
        self.synchronous = synchronous
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._accepting = False
        self.commits = 0

    # -- lifecycle -------------------------------------------------------------------------

    def open(self) -> list[int]:
        """Connect and migrate; returns the migrations applied. Used by `start` and the CLI."""
        if self._conn is None:
            self._conn = connect(self.path, synchronous=self.synchronous)
        return migrate(self._conn)

    async def start(self) -> None:
        applied = self.open()
        if applied:
            logger.info("database migrated", extra={"versions": applied, "path": str(self.path)})
        self._thread = threading.Thread(target=self._serve, name="forgebot-db", daemon=True)
        self._thread.start()
        self._accepting = True

    async def stop(self) -> None:
        """Finish the jobs already queued, then close the connection."""
        self._accepting = False
        if self._thread is not None:
            self._jobs.put(_STOP)
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def running(self) -> bool:
        return self._accepting and self._thread is not None and self._thread.is_alive()

    # -- running jobs ----------------------------------------------------------------------

    def run(self, job: Job, *args: Any) -> asyncio.Future[Any]:
        """Queue `job(conn, *args)`; the future resolves after the transaction commits."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if not self.running:
            future.set_exception(StoreClosed("the database is not running"))
            return future
        self._jobs.put(_Pending(job, args, future))
        return future

    def run_sync(self, job: Job, *args: Any) -> Any:
        """Run one job in its own transaction on the calling thread (CLI and tests)."""
        if self._conn is None:
            self.open()
        assert self._conn is not None
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = job(conn, *args)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    def _serve(self) -> None:
        assert self._conn is not None
        conn = self._conn
        stopping = False
        while not stopping:
            first = self._jobs.get()
            if first is _STOP:
                break
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            self._run_batch(conn, batch)

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Pending]) -> None:
        outcomes: list[tuple[_Pending, Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for item in batch:
                conn.execute("SAVEPOINT job")
                try:
                    result = item.job(conn, *item.args)
                except Exception as exc:  # the job's own failure; the others still commit
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    outcomes.append((item, None, exc))
                else:
                    conn.execute("RELEASE job")
                    outcomes.append((item, result, None))
            conn.execute("COMMIT")
            self.commits += 1
        except sqlite3.Error as exc:  # the commit itself failed (disk full, I/O error)
            logger.error("database commit failed", extra={"error": str(exc)})
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            outcomes = [(item, None, exc) for item in batch]
        # Futures belong to the event loop; hand all results over in one wake-up.
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, Any, Any]]] = {}
        for item, result, error in outcomes:
            by_loop.setdefault(item.future.get_loop(), []).append((item.future, result, error))
        for loop, results in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, results)
            except RuntimeError:  # the loop closed while we were working; nobody is waiting
                pass


def _resolve(results: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, result, error in results:
        if future.done():  # the caller was cancelled
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
