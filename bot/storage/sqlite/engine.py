"""SQLite storage: group commit on the event loop's thread, optional pipelined fsync, migrations.

Every read and write of the running service goes through `Store.run(job)`. Jobs are plain
functions `job(conn, *args)`. The first job queued in a turn of the event loop schedules a
flush for the next turn; the flush runs every job queued by then in one transaction (each job
in its own SAVEPOINT unless marked `single_statement`), commits once and resolves the callers'
futures (or, for `submit`, calls their callbacks). Under load, every delivery that arrived in
one turn shares one commit. Hot jobs also declare a `batch` form (`@batch(insert_many)`):
consecutive calls run as one multi-row statement.

Why on the loop's thread rather than a writer thread: a delivery's row costs SQLite a few tens
of microseconds, while handing it to another thread and its answer back costs more (two
wake-ups, and the two threads taking turns at the GIL). Measured on 2 cores with 8 KB
deliveries at concurrency 16: a writer thread that did no SQL at all capped intake at about
15k requests/s, and inline commits sustain more than that with the SQL included (README,
Performance). The service's jobs are short by design: each finds its rows through an index or
the rowid, and pruning goes a chunk per transaction, so a flush holds the loop for a few
milliseconds at most.

The loop must never sleep in SQLite's busy handler, so the service's connection does not wait
for locks: when another process (a CLI command) holds the write lock, the flush is tried again
a moment later, for up to `busy_patience` seconds (5 by default), and then fails its jobs.

Durability (`synchronous`):

- "NORMAL" (default): a commit is in the WAL before its future resolves, so it survives a crash
  or kill of the process; a power loss may take the last moments of commits with it.
- "FULL": a sync thread fsyncs the WAL file once for every commit made since its last fsync and
  only then resolves their futures; the loop goes on with the next flush meanwhile.

A checkpointer thread copies the WAL back into the database file, off the commit path, and
keeps the WAL under `max_wal_bytes` through a flood that never pauses (see `_checkpoint`).
The database and its -wal and -shm files are readable by their owner only: they hold the
payloads of private repositories.
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

from bot.storage.sqlite.migrations import MIGRATIONS

logger = logging.getLogger(__name__)

Job = Callable[..., Any]
# Told a job's result once its commit is durable: called with (result, None) or (None, error).
Then = Callable[[Any, BaseException | None], None]
Outcome = tuple["asyncio.Future[Any] | Then", Any, BaseException | None]

# How often the checkpointer copies the WAL into the database file.
CHECKPOINT_INTERVAL = 1.0
DEFAULT_MAX_WAL_BYTES = 512 * 1024 * 1024
# The WAL starts over once a checkpoint has copied all of it while nothing was writing: at
# ordinary rates that happens between deliveries. During a flood that never pauses, it never
# does by itself: each checkpoint copies what was there when it began while new commits go on
# appending, and the WAL would grow by the size of everything that arrives (9.5 GB in 200 s of
# 10,000 deliveries a second). So once the WAL file passes half its bound, the checkpointer
# runs PASSIVE checkpoints back to back, none of which takes the write lock, until one has copied
# every frame there was and the next commit has started the WAL over (WAL_DRAIN_ROUNDS). Only
# if the flood outruns all of them does it take the write lock for a RESTART checkpoint, and
# commits wait meanwhile (the flush retries, see BUSY_FIRST_RETRY): that wait, about 0.1 s every
# few seconds of a flood, was what the lock-first way cost at p99 (80 ms at c16 against 4.7 ms
# now in `make bench-ingest`). On reuse SQLite trims the file to `journal_size_limit`, which is
# set to that half, so the file keeps its size rather than being cut and grown again on the
# loop's thread.
#
# Should the file still reach WAL_HOLD_FRACTION of the bound (a disk slower than the flood, or a
# reader keeping the WAL from starting over), the last resort: commits, and so the answers to
# deliveries, wait while the checkpointer empties the file with a TRUNCATE checkpoint, and after
# `busy_patience` the deliveries are answered 503.
WAL_RESTART_FRACTION = 0.5
WAL_HOLD_FRACTION = 0.875
# Before taking the lock, up to this many PASSIVE rounds try to copy every frame, with a short
# pause after each that did: SQLite lets the next commit start the WAL over by itself then, and
# nothing waits (copying outruns even a flood, so a round soon finds nothing new to copy).
WAL_DRAIN_ROUNDS = 50
WAL_DRAIN_PAUSE = 0.002
# How long the checkpoint under the lock waits for it and for readers to move on; past it, the
# next round tries again. Bounded so that a long reader (a CLI query) never stalls intake long.
WAL_RESTART_PATIENCE_MS = 200

_STOP = object()

# Upper bound on jobs per transaction: keeps one flush's hold on the loop short under a flood.
MAX_BATCH = 512
# While another process holds the write lock: first retry after this long, doubling to the cap.
BUSY_FIRST_RETRY = 0.001
BUSY_RETRY_CAP = 0.05
# ...and how long the jobs wait for the lock in all before they fail (SQLite's usual 5 s).
BUSY_PATIENCE = 5.0


def single_statement(job: Job) -> Job:
    """Mark a job that runs one SQL statement. SQLite makes a statement atomic by itself, so
    such a job needs no SAVEPOINT (two fewer round trips on the hot path)."""
    job.single_statement = True  # type: ignore[attr-defined]
    return job


def batch(many: Callable[[sqlite3.Connection, list[tuple[Any, ...]]], list[Any]]) -> Callable[[Job], Job]:
    """Declare that consecutive calls of a job may run as one call of `many(conn, [args...])`,
    which returns one result per call, in order. The group runs in one SAVEPOINT: if `many`
    raises, what it wrote is rolled back and every call in the group fails with that error."""

    def mark(job: Job) -> Job:
        job.batch_form = many  # type: ignore[attr-defined]
        return job

    return mark


class StoreClosed(RuntimeError):
    """The store is not running (not started yet, or stopped)."""


class StoreFull(RuntimeError):
    """The WAL stayed at its bound for longer than the store's patience."""


@dataclass(slots=True)
class _Pending:
    job: Job
    args: tuple[Any, ...]
    waiter: asyncio.Future[Any] | Then


def _private(path: Path) -> None:
    """Create the database file 0600, or make an existing one so. SQLite gives its -wal and -shm
    files the mode of the database file, so they follow."""
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))  # an empty file is an empty database
        return
    for name in (str(path), f"{path}-wal", f"{path}-shm"):
        try:
            mode = os.stat(name).st_mode
            if mode & 0o077:
                os.chmod(name, mode & 0o700)
        except FileNotFoundError:
            continue
        except PermissionError:  # not ours to change (a read-only CLI user, say)
            continue


def connect(path: Path, *, synchronous: str = "NORMAL") -> sqlite3.Connection:
    """Open the database in WAL mode; transactions are explicit (autocommit otherwise)."""
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
        _private(path)
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'FULL' else 'NORMAL'}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    # Savepoint journals that outgrow memory would otherwise spill to a temporary file, created
    # and deleted for a single transaction.
    conn.execute("PRAGMA temp_store=MEMORY")
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
    """The database: transactions on the event loop's thread, fsync and checkpoints on threads."""

    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "NORMAL",
        busy_patience: float = BUSY_PATIENCE,
        max_wal_bytes: int = DEFAULT_MAX_WAL_BYTES,
        checkpoint_interval: float = CHECKPOINT_INTERVAL,
    ) -> None:
        self.path = path
        self.durable = synchronous == "FULL"
        self.busy_patience = busy_patience
        self.max_wal_bytes = max_wal_bytes
        self.checkpoint_interval = checkpoint_interval
        self.wal_restarts = 0
        self.commits = 0
        self.fsyncs = 0
        # Batches handed to the sync thread, and batches it has released: each counter is written
        # by one thread only. While they differ, some commit is not on disk yet.
        self._syncs_asked = 0
        self._syncs_done = 0
        self._conn: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queued: list[_Pending] = []
        self._flush_handle: asyncio.Handle | None = None
        self._busy_since: float | None = None
        self._busy_delay = BUSY_FIRST_RETRY
        self._to_sync: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()
        self._wal_full = threading.Event()  # the flush asks the checkpointer to empty the WAL now
        self._wal = Path(f"{path}-wal")
        self._wal_since: float | None = None
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
        self._conn.execute(f"PRAGMA journal_size_limit={int(self.max_wal_bytes * WAL_RESTART_FRACTION)}")
        self._conn.execute("PRAGMA busy_timeout=0")  # never sleep on the loop: see _flush
        self._loop = asyncio.get_running_loop()
        self._stopped.clear()
        self._threads = [
            threading.Thread(target=self._sync, name="forgebot-fsync", daemon=True),
            threading.Thread(target=self._checkpoint, name="forgebot-checkpoint", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self._accepting = True

    async def stop(self) -> None:
        """Commit what is queued, make it durable, then close."""
        self._accepting = False
        while self._queued:
            if self._flush_handle is not None:
                self._flush_handle.cancel()
                self._flush_handle = None
            self._flush()
            if self._flush_handle is not None:  # the write lock is busy: wait as the flush would
                await asyncio.sleep(self._busy_delay)
        if self._threads:
            syncer, checkpointer = self._threads
            self._to_sync.put(_STOP)
            await asyncio.to_thread(syncer.join)
            self._stopped.set()
            self._wal_full.set()
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
        """Queue `job(conn, *args)`; the future resolves once its transaction is committed.
        Call from the event loop's thread."""
        future: asyncio.Future[Any] = (self._loop or asyncio.get_running_loop()).create_future()
        if not self.running:
            future.set_exception(StoreClosed("the database is not running"))
            return future
        self._queue(_Pending(job, args, future))
        return future

    def submit(self, job: Job, *args: Any, then: Then) -> None:
        """Like `run`, but `then(result, error)` is called as soon as the commit is durable, with
        no future and no callback of its own to schedule: from the flush itself (NORMAL), or in
        the loop turn after the fsync (FULL). A store that is not running calls `then` with
        StoreClosed before `submit` returns. For the hot path (every webhook); `then` must be
        quick, and its exceptions are only logged."""
        if not self.running:
            then(None, StoreClosed("the database is not running"))
            return
        self._queue(_Pending(job, args, then))

    def _queue(self, pending: _Pending) -> None:
        self._queued.append(pending)
        if self._flush_handle is None:
            assert self._loop is not None
            self._flush_handle = self._loop.call_soon(self._flush)

    def run_sync(self, job: Job, *args: Any) -> Any:
        """Run one job in its own transaction on the calling thread (CLI and tests)."""
        if self._threads:
            raise RuntimeError("the store is running: its connection belongs to the event loop; use run()")
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

    # -- the flush, once per turn of the loop ---------------------------------------------------

    def _flush(self) -> None:
        """Run what is queued (up to MAX_BATCH jobs) in one transaction; resolve or hand to fsync."""
        assert self._conn is not None and self._loop is not None
        self._flush_handle = None
        if self._wal_too_big():
            self._hold_for_wal()
            return
        jobs, self._queued = self._queued[:MAX_BATCH], self._queued[MAX_BATCH:]
        conn = self._conn
        changes_before = conn.total_changes
        try:
            outcomes = _run_jobs(conn, jobs)
        except _Busy as busy:
            self._queued[:0] = jobs  # untouched: try them again, first in line
            if self._wait_for_lock(busy.error):
                return
            outcomes = [(item.waiter, None, busy.error) for item in self._queued]
            self._queued = []
        except Exception as exc:  # a bug below: fail this batch, never the store
            logger.exception("database batch failed")
            outcomes = [(item.waiter, None, exc) for item in jobs]
        self._busy_since, self._busy_delay = None, BUSY_FIRST_RETRY
        self.commits += 1
        wrote = conn.total_changes != changes_before
        if self.durable and (wrote or self._syncs_asked != self._syncs_done):
            # Resolved once the WAL is on disk. A batch that wrote nothing waits too while earlier
            # commits are unsynced: it may have read them (a duplicate of a delivery whose row is
            # not on disk yet must not be answered before the original).
            self._syncs_asked += 1
            self._to_sync.put(outcomes)
        else:
            _resolve(outcomes)
        if self._queued and self._flush_handle is None:
            self._flush_handle = self._loop.call_soon(self._flush)

    def _hold_for_wal(self) -> None:
        """Try the flush again shortly; once the patience has run out, fail what is queued."""
        assert self._loop is not None and self._wal_since is not None
        if time.monotonic() - self._wal_since >= self.busy_patience:
            error = StoreFull("the WAL stayed at its bound")
            outcomes: list[Outcome] = [(item.waiter, None, error) for item in self._queued]
            self._queued = []
            self._wal_since = None  # what comes next waits its own while, as with a busy lock
            _resolve(outcomes)
            return
        self._flush_handle = self._loop.call_later(BUSY_RETRY_CAP / 5, self._flush)

    def _wait_for_lock(self, error: sqlite3.Error) -> bool:
        """Schedule another try while the patience lasts; False once it has run out."""
        assert self._loop is not None
        now = time.monotonic()
        if self._busy_since is None:
            self._busy_since = now
            logger.info("database locked by another process; waiting", extra={"error": str(error)})
        if now - self._busy_since >= self.busy_patience:
            logger.error("database stayed locked; failing the queued jobs", extra={"error": str(error)})
            return False
        self._flush_handle = self._loop.call_later(self._busy_delay, self._flush)
        self._busy_delay = min(self._busy_delay * 2, BUSY_RETRY_CAP)
        return True

    def _release(self, outcomes: list[Outcome]) -> None:
        """From the sync thread: hand the results to the event loop in one wake-up."""
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
                    outcomes = [(waiter, None, exc) for waiter, _, _ in outcomes]
                self._release(outcomes)
                self._syncs_done += len(groups)
                if stopping:
                    return
        finally:
            if wal_fd is not None:
                os.close(wal_fd)

    # -- the checkpointer ------------------------------------------------------------------

    def _checkpoint(self) -> None:
        conn = connect(self.path, synchronous="FULL")
        restart_at = int(self.max_wal_bytes * WAL_RESTART_FRACTION)
        try:
            while not self._stopped.is_set():
                asked = self._wal_full.wait(self.checkpoint_interval)
                if self._stopped.is_set():
                    break
                self._wal_full.clear()
                try:
                    # PASSIVE never takes the write lock, so a flush never waits for it.
                    if not asked:
                        _passive(conn)
                    if asked or _size(self._wal) > restart_at:
                        if not asked and self._drain_passively(conn):
                            self.wal_restarts += 1  # a commit started it over; nothing waited
                            continue
                        self._restart_wal(conn, "TRUNCATE" if asked else "RESTART")
                except sqlite3.Error as exc:  # busy or I/O trouble: try again next round
                    logger.warning("checkpoint failed", extra={"error": str(exc)})
        finally:
            conn.close()

    def _drain_passively(self, conn: sqlite3.Connection) -> bool:
        """PASSIVE rounds, none of which takes the write lock, until one has copied every frame
        there was: the next commit then starts the WAL over by itself. True once one has (the
        WAL's length went down); False when the flood outran WAL_DRAIN_ROUNDS of them."""
        last = -1
        for _ in range(WAL_DRAIN_ROUNDS):
            log, copied = _passive_counts(conn)
            if 0 <= log < last:
                return True
            last = log
            if log == copied:  # all copied: give the next commit a moment to start it over
                time.sleep(WAL_DRAIN_PAUSE)
        return False

    def _restart_wal(self, conn: sqlite3.Connection, mode: str) -> None:
        """Copy the rest of the WAL under the write lock (TRUNCATE also empties the file): the next
        commit starts it over."""
        conn.execute(f"PRAGMA busy_timeout={WAL_RESTART_PATIENCE_MS}")
        try:
            busy, _, _ = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        finally:
            conn.execute("PRAGMA busy_timeout=5000")
        if busy:
            logger.warning("the WAL is past half its bound and a reader kept it from starting over; trying again", extra={"mode": mode})
        else:
            self.wal_restarts += 1

    def _wal_too_big(self) -> bool:
        """Past WAL_HOLD_FRACTION of the bound: wake the checkpointer, and hold commits (see above)."""
        if _size(self._wal) <= self.max_wal_bytes * WAL_HOLD_FRACTION:
            if self._wal_since is not None:
                logger.info("the WAL is under its bound again; commits go on")
                self._wal_since = None
            return False
        if self._wal_since is None:
            self._wal_since = time.monotonic()
            logger.warning("the WAL reached its bound; commits wait for the checkpoint", extra={"bound": self.max_wal_bytes})
        self._wal_full.set()
        return True


def _passive(conn: sqlite3.Connection) -> int:
    """A PASSIVE checkpoint; the WAL's length in frames when it began (all of which it copied,
    unless a reader held some back)."""
    return _passive_counts(conn)[0]


def _passive_counts(conn: sqlite3.Connection) -> tuple[int, int]:
    """A PASSIVE checkpoint: (frames in the WAL, frames copied to the database by now)."""
    _, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(frames), int(copied)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _take(source: queue.SimpleQueue[Any]) -> tuple[list[Any], bool]:
    """Wait for one item, then take whatever else is waiting.

    Returns the items and whether a stop was asked for after them; no items means stop now.
    """
    first = source.get()
    if first is _STOP:
        return [], True
    items = [first]
    while True:
        try:
            item = source.get_nowait()
        except queue.Empty:
            break
        if item is _STOP:
            return items, True
        items.append(item)
    return items, False


class _Busy(Exception):
    """Another connection holds the write lock; nothing of the batch ran."""

    def __init__(self, error: sqlite3.Error) -> None:
        super().__init__(str(error))
        self.error = error


def _begin(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY:
            raise _Busy(exc) from exc
        raise


def _run_jobs(conn: sqlite3.Connection, jobs: list[_Pending]) -> list[Outcome]:
    """Run `jobs` in one transaction; each outcome is (waiter, result, error).

    Raises _Busy, having done nothing, when the write lock is taken. Every other failure is an
    outcome: a job's own error fails that job, a failed commit fails them all.
    """
    try:
        _begin(conn)
    except _Busy:
        raise
    except Exception as exc:  # I/O trouble before anything ran
        logger.error("database transaction could not start", extra={"error": str(exc)})
        return [(item.waiter, None, exc) for item in jobs]
    outcomes: list[Outcome] = []
    try:
        i = 0
        while i < len(jobs):
            item = jobs[i]
            many = getattr(item.job, "batch_form", None)
            if many is None:
                outcomes.append(_run_one(conn, item))
                i += 1
                continue
            end = i + 1
            while end < len(jobs) and jobs[end].job is item.job:
                end += 1
            group = jobs[i:end]
            conn.execute("SAVEPOINT job")
            try:
                results = many(conn, [g.args for g in group])
            except Exception as exc:  # the group failed as a whole; the other jobs still commit
                conn.execute("ROLLBACK TO job")
                outcomes.extend((g.waiter, None, exc) for g in group)
            else:
                outcomes.extend((g.waiter, r, None) for g, r in zip(group, results, strict=True))
            conn.execute("RELEASE job")
            i = end
        conn.execute("COMMIT")
    except Exception as exc:  # the commit itself failed (disk full, I/O error)
        logger.error("database commit failed", extra={"error": str(exc)})
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        outcomes = [(item.waiter, None, exc) for item in jobs]
    return outcomes


def _run_one(conn: sqlite3.Connection, item: _Pending) -> Outcome:
    if getattr(item.job, "single_statement", False):
        try:
            return item.waiter, item.job(conn, *item.args), None
        except Exception as exc:  # the job's own failure; the others still commit
            return item.waiter, None, exc
    conn.execute("SAVEPOINT job")
    try:
        result = item.job(conn, *item.args)
    except Exception as exc:  # the job's own failure; the others still commit
        conn.execute("ROLLBACK TO job")
        conn.execute("RELEASE job")
        return item.waiter, None, exc
    conn.execute("RELEASE job")
    return item.waiter, result, None


def _resolve(outcomes: list[Outcome]) -> None:
    for waiter, result, error in outcomes:
        if not isinstance(waiter, asyncio.Future):
            try:
                waiter(result, error)
            except Exception:  # one caller's bug must not keep the others from their answers
                logger.exception("store callback failed")
            continue
        if waiter.done():  # the caller gave up waiting
            continue
        if error is None:
            waiter.set_result(result)
        else:
            waiter.set_exception(error)
