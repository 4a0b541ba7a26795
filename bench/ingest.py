"""`make bench-ingest`: webhook intake throughput and latency, forgebot against Probot and a floor.

Each target is started as its own server process on loopback and loaded with signed ~8 KB
`issue_comment` deliveries, each with a fresh delivery id, at concurrency 16 and 64 for
BENCH_SECONDS (default 10) each, with wrk when installed (else a bounded asyncio client):

- forgebot: `forgebot serve` in its normal configuration (SQLite, WAL, the default synchronous=NORMAL,
  workers on);
- probot:   Probot 14 from npm with a no-op `issue_comment` handler (skipped without npm);
- floor:    a bare ASGI app on the same uvicorn that only checks the HMAC.

For forgebot it then checks the database: every 2xx is stored and nothing else, and reports
how long the queue took to drain and the WAL's peak size (sampled every 10 ms) during each load
and during the drain, against its bound (FORGEBOT_MAX_WAL_BYTES). Prints a table and the ratios;
asserts nothing about time.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.loadclient import http_request, run_load

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = next((p for p in (ROOT.parent / "shared" / "reference", ROOT / "tests" / "reference") if p.is_dir()), ROOT / "tests" / "reference")
WORK = ROOT / "bench" / ".work"
SECRET = "bench-secret-not-for-production"
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
CONCURRENCY = (16, 64)
TARGET_SIZE = 8 * 1024
WAL_BOUND = 512 * 1024 * 1024  # FORGEBOT_MAX_WAL_BYTES's default, which the bench runs with


@dataclass
class Row:
    target: str
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    ok: int
    non2xx: int
    note: str = ""
    wal_peak: int | None = None


class WalWatch:
    """Samples the size of a database's WAL file on a thread; `take()` is the peak since the last."""

    def __init__(self, database: Path) -> None:
        self.wal = Path(f"{database}-wal")
        self.peak = 0
        self.overall = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.01):
            try:
                size = self.wal.stat().st_size
            except FileNotFoundError:
                continue
            self.peak = max(self.peak, size)
            self.overall = max(self.overall, size)

    def __enter__(self) -> WalWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def take(self) -> int:
        peak, self.peak = self.peak, 0
        return peak


def payload() -> bytes:
    """A real issue_comment payload trimmed to about 8 KB: URL fields dropped, comment padded."""
    source = REFERENCE / "github-webhooks" / "issue_comment.created.json"
    if source.exists():
        data = json.loads(source.read_text())
    else:  # the reference folder travels with the project's workspace, not with every clone
        data = {"action": "created", "issue": {"number": 1, "title": "t", "user": {"login": "a"}},
                "comment": {"id": 1, "body": "", "user": {"login": "a"}},
                "repository": {"name": "r", "full_name": "o/r", "owner": {"login": "o"}}, "sender": {"login": "a"}}

    def size() -> int:
        return len(json.dumps(data, separators=(",", ":")).encode())

    for obj in (data["repository"], data["repository"].get("owner", {}), data["sender"], data["issue"].get("user", {})):
        for key in [k for k in obj if k.endswith("_url") and k != "html_url"]:
            if size() <= TARGET_SIZE - 200:
                break
            del obj[key]
    filler = "Looks good to me. "
    data["comment"]["body"] = filler * max(0, (TARGET_SIZE - size()) // len(filler))
    return json.dumps(data, separators=(",", ":")).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port} after {timeout}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- load generators --------------------------------------------------------------------------


def load_wrk(port: int, body_file: Path, signature: str, prefix: str, concurrency: int) -> dict[str, int]:
    script = ROOT / "bench" / "wrk_post.lua"
    lines = body_file.with_suffix(".lines")  # the script's form: SIGNATURE<TAB>BODY (compact JSON, one line)
    lines.write_bytes(signature.encode() + b"\t" + body_file.read_bytes().rstrip(b"\n") + b"\n")
    cmd = [
        "wrk", "-t1", f"-c{concurrency}", f"-d{int(SECONDS)}s", "--timeout", "5s", "-s", str(script),
        f"http://127.0.0.1:{port}/webhooks", "--", str(lines), prefix,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=SECONDS + 60, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def load_python(port: int, body: bytes, signature: str, prefix: str, concurrency: int) -> dict[str, int]:
    def make(n: int) -> tuple[str, bytes]:
        delivery = f"{prefix}-{n}"
        headers = {"Content-Type": "application/json", "X-GitHub-Event": "issue_comment",
                   "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": signature}
        return delivery, http_request("/webhooks", "127.0.0.1", headers, body)

    result = asyncio.run(run_load("127.0.0.1", port, make, concurrency=concurrency, seconds=SECONDS, limit=2_000_000))
    return {
        "requests": len(result.statuses), "duration_us": int(result.seconds * 1e6),
        "non2xx": len(result.statuses) - result.ok, "sent": len(result.statuses) + result.errors,
        "p50_us": int(result.percentile(50) * 1e6), "p99_us": int(result.percentile(99) * 1e6),
        "read_errors": result.errors, "connect_errors": 0, "write_errors": 0, "timeouts": 0,
    }


def measure(
    name: str, port: int, body: bytes, body_file: Path, signature: str, wal: WalWatch | None = None
) -> list[tuple[Row, str, dict[str, int]]]:
    rows = []
    for concurrency in CONCURRENCY:
        if wal is not None:
            wal.take()
        prefix = f"{name}-c{concurrency}-{int(time.time())}"
        if shutil.which("wrk"):
            raw = load_wrk(port, body_file, signature, prefix, concurrency)
        else:
            raw = load_python(port, body, signature, prefix, concurrency)
        seconds = raw["duration_us"] / 1e6
        errors = raw.get("connect_errors", 0) + raw.get("read_errors", 0) + raw.get("write_errors", 0) + raw.get("timeouts", 0)
        row = Row(
            target=name, concurrency=concurrency, rps=raw["requests"] / seconds,
            p50_ms=raw["p50_us"] / 1000, p99_ms=raw["p99_us"] / 1000,
            ok=raw["requests"] - raw["non2xx"], non2xx=raw["non2xx"] + errors,
            wal_peak=wal.take() if wal is not None else None,
        )
        rows.append((row, prefix, raw))
        print(f"  {name:9} c{concurrency:<3} {row.rps:8.0f} req/s  p50 {row.p50_ms:6.2f} ms  p99 {row.p99_ms:6.2f} ms", flush=True)
    return rows


# -- targets ----------------------------------------------------------------------------------


def run_forgebot(body: bytes, body_file: Path, signature: str, tmp: Path) -> tuple[list[Row], list[str], int]:
    port = free_port()
    database = tmp / "forgebot.db"
    env = {**os.environ, "FORGEBOT_WEBHOOK_SECRETS": SECRET, "FORGEBOT_LOG_LEVEL": "warning", "FORGEBOT_DATABASE": str(database)}
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(port)], env=env, cwd=ROOT)
    notes = []
    wal = WalWatch(database)
    with wal:
        try:
            wait_for_port(port, proc)
            results = measure("forgebot", port, body, body_file, signature, wal)
            drain_started = time.monotonic()
            depth = queue_depth(port)
            while depth and time.monotonic() - drain_started < 300:
                time.sleep(0.05)
                depth = queue_depth(port)
            drain = time.monotonic() - drain_started
            notes.append(f"queue drained {drain:.1f} s after the load ended" + ("" if not depth else f" (still {depth} left)")
                         + f"; WAL peak while draining {wal.take() / 2**20:.0f} MiB")
            exact = exactness_check(port, body, signature, database)
            notes.append(exact)
        finally:
            stop(proc)
    notes.append(f"WAL peak over the whole run {wal.overall / 2**20:.0f} MiB (bound {WAL_BOUND / 2**20:.0f} MiB)")
    conn = sqlite3.connect(database)
    for row, prefix, raw in results:
        stored = conn.execute("SELECT count(*) FROM deliveries WHERE delivery_id LIKE ?", (prefix + "-%",)).fetchone()[0]
        in_flight = max(0, raw["sent"] - raw["requests"])
        consistent = row.ok <= stored <= row.ok + in_flight
        row.note = f"stored {stored} of {row.ok} 2xx" + (f" (+{stored - row.ok} in flight at stop)" if stored > row.ok else "")
        if not consistent:
            row.note += "  MISMATCH"
    statuses = dict(conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status").fetchall())
    notes.append(f"final delivery states: {statuses}")
    conn.close()
    return [r for r, _, _ in results], notes, wal.overall


def queue_depth(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("forgebot_queue_depth "):
                return int(float(line.split()[1]))
    raise RuntimeError("no forgebot_queue_depth in /metrics")


def exactness_check(port: int, body: bytes, signature: str, database: Path) -> str:
    """2,000 deliveries from the counting client: the stored set equals the 2xx set, exactly."""
    prefix = f"exact-{int(time.time())}"

    def make(n: int) -> tuple[str, bytes]:
        delivery = f"{prefix}-{n}"
        headers = {"Content-Type": "application/json", "X-GitHub-Event": "issue_comment",
                   "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": signature}
        return delivery, http_request("/webhooks", "127.0.0.1", headers, body)

    result = asyncio.run(run_load("127.0.0.1", port, make, concurrency=16, seconds=60, limit=2000))
    accepted = {d for d, s in zip(result.ids, result.statuses, strict=True) if 200 <= s < 300}
    conn = sqlite3.connect(database)
    stored = {r[0] for r in conn.execute("SELECT delivery_id FROM deliveries WHERE delivery_id LIKE ?", (prefix + "-%",))}
    conn.close()
    verdict = "exact" if stored == accepted else f"MISMATCH: {len(stored - accepted)} stored without 2xx, {len(accepted - stored)} 2xx missing"
    return f"exactness: {len(result.ids)} sent, {len(accepted)} answered 2xx, {len(stored)} stored: {verdict}"


def run_floor(body: bytes, body_file: Path, signature: str) -> list[Row]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.floor", str(port), SECRET], cwd=ROOT)
    try:
        wait_for_port(port, proc)
        return [r for r, _, _ in measure("floor", port, body, body_file, signature)]
    finally:
        stop(proc)


def install_probot() -> Path | None:
    if not shutil.which("npm") or not shutil.which("node"):
        return None
    folder = WORK / "probot"
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "server.mjs"):
        shutil.copy(ROOT / "bench" / "probot" / name, folder / name)
    if not (folder / "node_modules" / "probot").exists():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=folder, check=True, timeout=600)
    return folder


def run_probot(body: bytes, body_file: Path, signature: str, tmp: Path) -> tuple[list[Row], str]:
    try:
        folder = install_probot()
    except (subprocess.SubprocessError, OSError) as exc:
        return [], f"probot skipped: npm install failed ({exc})"
    if folder is None:
        return [], "probot skipped: npm or node is not installed"
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    port = free_port()
    env = {**os.environ, "APP_ID": "1", "PRIVATE_KEY": pem.decode(), "WEBHOOK_SECRET": SECRET, "LOG_LEVEL": "warn", "NODE_ENV": "production"}
    proc = subprocess.Popen(["node", "server.mjs", str(port)], cwd=folder, env=env, stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc)
        version = json.loads((folder / "node_modules" / "probot" / "package.json").read_text())["version"]
        return [r for r, _, _ in measure("probot", port, body, body_file, signature)], f"probot {version} on node {node_version()}"
    finally:
        stop(proc)


def node_version() -> str:
    return subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()


# -- report -----------------------------------------------------------------------------------


def main() -> int:
    body = payload()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    WORK.mkdir(parents=True, exist_ok=True)
    print(f"bench-ingest: {len(body)}-byte issue_comment deliveries, {SECONDS:g} s per run, "
          f"client {'wrk' if shutil.which('wrk') else 'python asyncio'}, {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory(prefix="forgebot-bench-") as tmp_name:
        tmp = Path(tmp_name)
        body_file = tmp / "body.json"
        body_file.write_bytes(body)
        forgebot, notes, wal_peak = run_forgebot(body, body_file, signature, tmp)
        probot, probot_note = run_probot(body, body_file, signature, tmp)
        floor = run_floor(body, body_file, signature)

    rows = forgebot + probot + floor
    print()
    print("| target | conc | req/s | p50 ms | p99 ms | 2xx | non-2xx/errors | WAL peak MiB | check |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        wal = "-" if r.wal_peak is None else f"{r.wal_peak / 2**20:.0f}"
        print(f"| {r.target} | {r.concurrency} | {r.rps:.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.ok} | {r.non2xx} | {wal} | {r.note} |")
    print()
    by = {(r.target, r.concurrency): r for r in rows}
    for c in CONCURRENCY:
        fb = by[("forgebot", c)]
        parts = []
        if ("probot", c) in by:
            parts.append(f"forgebot/probot {fb.rps / by[('probot', c)].rps:.2f}x")
        parts.append(f"forgebot/floor {fb.rps / by[('floor', c)].rps:.2f}x")
        print(f"c{c}: " + ", ".join(parts))
    for note in (*notes, probot_note):
        print(note)
    fb16 = by[("forgebot", 16)]
    checks = [
        (f"p99 at c16 <= 10 ms: {fb16.p99_ms:.2f} ms", fb16.p99_ms <= 10),
        (f">= 0.5x floor at c16: {fb16.rps / by[('floor', 16)].rps:.2f}x", fb16.rps >= 0.5 * by[("floor", 16)].rps),
        (f"WAL peak <= bound: {wal_peak / 2**20:.0f} MiB <= {WAL_BOUND / 2**20:.0f} MiB", wal_peak <= WAL_BOUND),
    ]
    if ("probot", 16) in by:
        ratio = fb16.rps / by[("probot", 16)].rps
        checks.insert(0, (f">= 2x probot at c16: {ratio:.2f}x", ratio >= 2))
    print()
    for text, met in checks:
        print(f"target {'met   ' if met else 'MISSED'}  {text}")
    errors = any(r.non2xx for r in forgebot) or any("MISMATCH" in r.note for r in forgebot) or any("MISMATCH" in n for n in notes)
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
