"""SQLite storage: one writer thread with group commit, optional pipelined fsync, migrations.

Every read and write of the running service goes through `Store.run(job)`. Jobs are plain
functions `job(conn, *args)`. The writer thread takes every job waiting, runs them in one
transaction (each job in its own SAVEPOINT unless marked `single_statement`) and commits once;
then the callers' futures resolve. Under load many deliveries share one commit.

The thread matters: SQLite releases the GIL while it works, so the B-tree and WAL work runs on
a second core while the event loop keeps answering webhooks. Every statement costs a GIL round
trip, so hot jobs declare a `batch` form (`@batch(insert_many)`): consecutive calls run as one
multi-row statement.

Durability (`synchronous`):

- "NORMAL" (default): a commit is in the WAL before its future resolves, so it survives a crash
  or kill of the process; a power loss may take the last moments of commits with it.
- "FULL": a sync thread fsyncs the WAL file once for every commit made since its last fsync and
  only then resolves their futures; the writer goes on with the next batch meanwhile.

A checkpointer thread copies the WAL back into the database file, off the commit path.
The CLI, which has no event loop, runs the same job functions with `Store.run_sync`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.migrations import MIGRATIONS

logger = logging.getLogger(__name__)

Job = Callable[..., Any]
Outcome = tuple[asyncio.Future[Any], Any, BaseException | None]

# How often the checkpointer copies the WAL into the database file.
CHECKPOINT_INTERVAL = 1.0
# Once checkpointed, the WAL is reused from its start; on reuse SQLite trims it to this size.
WAL_SIZE_LIMIT = 64 * 1024 * 1024
# The WAL starts over once a checkpoint has copied all of it while nothing was writing: at
# ordinary rates that happens between deliveries. During a flood that never pauses the WAL
# keeps growing, by the size of what arrives, and starts over when the flood ends. (Forcing a
# restart mid-flood would hold every commit back for as long as the copy and fsync take.)

_STOP = object()


# Upper bound on jobs per transaction: keeps one commit's latency bounded under a flood.
MAX_BATCH = 512


def single_statement(job: Job) -> Job:
    """Mark a job that runs one SQL statement. SQLite makes a statement atomic by itself, so
    such a job needs no SAVEPOINT (two fewer round trips on the hot path)."""
    job.single_statement = True  # type: ignore[attr-defined]
    return job


def batch(many: Callable[[sqlite3.Connection, list[tuple[Any, ...]]], list[Any]]) -> Callable[[Job], Job]:
    """Declare that consecutive calls of a job may run as one call of `many(conn, [args...])`,
    which returns one result per call, in order. `many` must be a single statement's worth of
    atomicity: if it raises, every call in the group fails with that error."""

    def mark(job: Job) -> Job:
        job.batch_form = many  # type: ignore[attr-defined]
        return job

    return mark


class StoreClosed(RuntimeError):
    """The store is not running (not started yet, or stopped)."""


@dataclass(slots=True)
class _Pending:
    job: Job
    args: tuple[Any, ...]
    future: asyncio.Future[Any]


def connect(path: Path, *, synchronous: str = "NORMAL") -> sqlite3.Connection:
    """Open the database in WAL mode; transactions are explicit (autocommit otherwise)."""
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    # 8 KiB pages hold a typical delivery in one page plus a little: fewer WAL frames per row.
    # (Only takes effect when the file is created.)
    conn.execute("PRAGMA page_size=8192")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'FULL' else 'NORMAL'}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Apply the numbered migrations not yet applied; return the versions applied now."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    applied = []
    for version, script in MIGRATIONS:
        if version in done:
            continue
        # executescript commits on its own, so the migration carries its own transaction.
        conn.executescript(
            f"BEGIN IMMEDIATE;\n{script}\n"
            f"INSERT INTO schema_migrations VALUES ({int(version)}, {time.time()});\nCOMMIT;"
        )
        applied.append(version)
    return applied


class Store:
    """The database: a writer thread, and fsync and checkpoints on threads of their own."""

    def __init__(self, path: Path, *, synchronous: str = "NORMAL") -> None:
        self.path = path
        self.durable = synchronous == "FULL"
        self.commits = 0
        self.fsyncs = 0
        self._conn: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._to_sync: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()
        self._accepting = False

    # -- lifecycle -------------------------------------------------------------------------

    def open(self) -> list[int]:
        """Connect and migrate; return the migrations applied. Used by `start` and the CLI."""
        if self._conn is None:
            # The CLI commits with SQLite's own syncing; the service brings its own (see start).
            self._conn = connect(self.path, synchronous="FULL" if self.durable else "NORMAL")
        return migrate(self._conn)

    async def start(self) -> None:
        applied = self.open()
        if applied:
            logger.info("database migrated", extra={"versions": applied, "path": str(self.path)})
        assert self._conn is not None
        self._conn.execute("PRAGMA synchronous=NORMAL")  # FULL durability comes from the sync thread
        self._conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer's job, off the commit path
        self._conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        self._loop = asyncio.get_running_loop()
        self._stopped.clear()
        self._threads = [
            threading.Thread(target=self._write, name="forgebot-db", daemon=True),
            threading.Thread(target=self._sync, name="forgebot-fsync", daemon=True),
            threading.Thread(target=self._checkpoint, name="forgebot-checkpoint", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self._accepting = True

    async def stop(self) -> None:
        """Commit what is queued, make it durable, then close."""
        self._accepting = False
        if self._threads:
            writer, syncer, checkpointer = self._threads
            self._jobs.put(_STOP)
            await asyncio.to_thread(writer.join)
            self._to_sync.put(_STOP)
            await asyncio.to_thread(syncer.join)
            self._stopped.set()
            await asyncio.to_thread(checkpointer.join)
            self._threads = []
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def running(self) -> bool:
        """Taking jobs. (Cheap: checked on every job; `healthy` also checks the threads.)"""
        return self._accepting

    @property
    def healthy(self) -> bool:
        return self._accepting and all(t.is_alive() for t in self._threads)

    # -- running jobs ----------------------------------------------------------------------

    def run(self, job: Job, *args: Any) -> asyncio.Future[Any]:
        """Queue `job(conn, *args)`; the future resolves once its transaction is committed."""
        future: asyncio.Future[Any] = (self._loop or asyncio.get_running_loop()).create_future()
        if not self.running:
            future.set_exception(StoreClosed("the database is not running"))
            return future
        self._jobs.put(_Pending(job, args, future))
        return future


    def run_sync(self, job: Job, *args: Any) -> Any:
        """Run one job in its own transaction on the calling thread (CLI and tests)."""
        if self._threads:
            raise RuntimeError("the store is running: its connection belongs to the writer thread; use run()")
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

    # -- the writer thread -----------------------------------------------------------------

    def _write(self) -> None:
        assert self._conn is not None
        conn = self._conn
        while True:
            jobs, stopping = _take(self._jobs, MAX_BATCH)
            if not jobs:
                return
            changes_before = conn.total_changes
            try:
                outcomes = _run_jobs(conn, jobs)
            except Exception as exc:  # even a failed rollback must not end the thread: fail this batch only
                logger.exception("database batch failed")
                outcomes = [(item.future, None, exc) for item in jobs]
            self.commits += 1
            if self.durable and conn.total_changes != changes_before:
                self._to_sync.put(outcomes)  # resolved once the WAL is on disk
            else:
                self._release(outcomes)
            if stopping:
                return

    def _release(self, outcomes: list[Outcome]) -> None:
        """Hand every result to the event loop in one wake-up."""
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(_resolve, outcomes)
        except RuntimeError:  # the loop closed meanwhile; nobody is waiting
            pass

    # -- the sync thread (synchronous=FULL) ------------------------------------------------

    def _sync(self) -> None:
        wal_fd: int | None = None
        try:
            while True:
                groups, stopping = _take(self._to_sync)
                if not groups:
                    return
                outcomes = [outcome for group in groups for outcome in group]
                try:
                    if wal_fd is None:
                        wal_fd = os.open(f"{self.path}-wal", os.O_RDONLY)
                    os.fsync(wal_fd)  # covers every frame written so far: every commit queued here
                    self.fsyncs += 1
                except OSError as exc:
                    logger.error("fsync of the database log failed", extra={"error": str(exc)})
                    outcomes = [(future, None, exc) for future, _, _ in outcomes]
                self._release(outcomes)
                if stopping:
                    return
        finally:
            if wal_fd is not None:
                os.close(wal_fd)

    # -- the checkpointer ------------------------------------------------------------------

    def _checkpoint(self) -> None:
        conn = connect(self.path, synchronous="FULL")
        try:
            while not self._stopped.wait(CHECKPOINT_INTERVAL):
                # PASSIVE never takes the write lock, so the writer never waits for it.
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:  # busy or I/O trouble: try again next round
                    logger.warning("checkpoint failed", extra={"error": str(exc)})
        finally:
            conn.close()


def _take(source: queue.SimpleQueue[Any], limit: int = 1 << 30) -> tuple[list[Any], bool]:
    """Wait for one item, then take whatever else is waiting (up to `limit`).

    Returns the items and whether a stop was asked for after them; no items means stop now.
    """
    first = source.get()
    if first is _STOP:
        return [], True
    items = [first]
    while len(items) < limit:
        try:
            item = source.get_nowait()
        except queue.Empty:
            break
        if item is _STOP:
            return items, True
        items.append(item)
    return items, False


def _run_jobs(conn: sqlite3.Connection, jobs: list[_Pending]) -> list[Outcome]:
    """Run `jobs` in one transaction; each outcome is (future, result, error)."""
    many = getattr(jobs[0].job, "batch_form", None)
    if many is not None and all(item.job is jobs[0].job for item in jobs):
        # One batchable kind only (a burst of deliveries, typically): its one statement is its
        # own transaction, so no BEGIN and COMMIT, and two fewer trips through the GIL.
        try:
            results = many(conn, [item.args for item in jobs])
        except Exception as exc:  # the group's statement failed as a whole
            return [(item.future, None, exc) for item in jobs]
        return [(item.future, r, None) for item, r in zip(jobs, results, strict=True)]
    outcomes: list[Outcome] = []
    try:
        conn.execute("BEGIN IMMEDIATE")
        i = 0
        while i < len(jobs):
            item = jobs[i]
            many = getattr(item.job, "batch_form", None)
            if many is not None:
                end = i + 1
                while end < len(jobs) and jobs[end].job is item.job:
                    end += 1
                group = jobs[i:end]
                try:
                    results = many(conn, [g.args for g in group])
                    outcomes.extend((g.future, r, None) for g, r in zip(group, results, strict=True))
                except Exception as exc:  # the group's statement failed as a whole
                    outcomes.extend((g.future, None, exc) for g in group)
                i = end
                continue
            outcomes.append(_run_one(conn, item))
            i += 1
        conn.execute("COMMIT")
    except Exception as exc:  # the commit itself failed (disk full, I/O error)
        logger.error("database commit failed", extra={"error": str(exc)})
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        outcomes = [(item.future, None, exc) for item in jobs]
    return outcomes


def _run_one(conn: sqlite3.Connection, item: _Pending) -> Outcome:
    if getattr(item.job, "single_statement", False):
        try:
            return item.future, item.job(conn, *item.args), None
        except Exception as exc:  # the job's own failure; the others still commit
            return item.future, None, exc
    conn.execute("SAVEPOINT job")
    try:
        result = item.job(conn, *item.args)
    except Exception as exc:  # the job's own failure; the others still commit
        conn.execute("ROLLBACK TO job")
        conn.execute("RELEASE job")
        return item.future, None, exc
    conn.execute("RELEASE job")
    return item.future, result, None


def _resolve(outcomes: list[Outcome]) -> None:
    for future, result, error in outcomes:
        if future.done():  # the caller gave up waiting
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
