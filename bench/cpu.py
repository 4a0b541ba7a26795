"""CPU time (user + system) of processes, from /proc, for benchmarks that say where the time goes.

A PostgreSQL server is a postmaster and its children (one backend per connection, plus the
checkpointer, WAL writer, autovacuum...): `server_seconds` adds the postmaster's own time, the time
of children it has already reaped (cutime, cstime) and that of the children alive now. The
difference of two readings is the server's CPU time in between (a child alive at the first reading
that exits before the second is counted whole: backends here live as long as the pools, so that
error is small and says more, never less).
"""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after its end.
    return text[text.rindex(")") + 2:].split()


def process_seconds(pid: int, *, reaped_children: bool = False) -> float:
    """User + system CPU seconds of one process (its threads included); 0 once it is gone."""
    fields = _fields(pid)
    if fields is None:
        return 0.0
    # After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICK


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _fields(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def server_seconds(postmaster: int) -> float:
    """CPU seconds of a PostgreSQL server so far: the postmaster, its reaped and its live children."""
    return process_seconds(postmaster, reaped_children=True) + sum(process_seconds(c) for c in children(postmaster))


def postmaster_pid(data_directory: Path) -> int:
    """The postmaster's pid, from the first line of postmaster.pid in its data directory."""
    return int((data_directory / "postmaster.pid").read_text().split()[0])
