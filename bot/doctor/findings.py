"""Findings: one line each, with what to do, grouped by where they were found."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

HOST = "this host"


class Level(enum.StrEnum):
    OK = "ok"
    WARN = "warn"  # works for now, or partly; worth fixing
    FAIL = "fail"  # something forgebot needs does not work
    SKIP = "skip"  # could not be checked, and the message says why
    NOTE = "note"  # worth knowing, nothing wrong now (failures that a passing test shows are over)
    FIXED = "fixed"  # was wrong, and `--fix` corrected it


# Findings at these levels make `forgebot doctor` exit 1.
WRONG = frozenset({Level.WARN, Level.FAIL})


@dataclass(frozen=True, slots=True)
class Finding:
    scope: str  # HOST, a platform ("github"), or a platform and repository ("github acme/widgets")
    check: str  # credentials, permissions, webhook, deliveries, clock, database, git root, public url...
    level: Level
    message: str
    fix: str = ""  # what to do; empty when nothing is to be done

    def line(self) -> str:
        text = f"{self.level.value.upper():5} {self.check}: {self.message}"
        return f"{text}; {self.fix}" if self.fix else text


def scope_of(platform: str, repo: str | None = None) -> str:
    return f"{platform} {repo}" if repo else platform


def ok(scope: str, check: str, message: str) -> Finding:
    return Finding(scope, check, Level.OK, message)


def warn(scope: str, check: str, message: str, fix: str = "") -> Finding:
    return Finding(scope, check, Level.WARN, message, fix)


def fail(scope: str, check: str, message: str, fix: str = "") -> Finding:
    return Finding(scope, check, Level.FAIL, message, fix)


def skip(scope: str, check: str, message: str, fix: str = "") -> Finding:
    return Finding(scope, check, Level.SKIP, message, fix)


def exit_code(findings: Iterable[Finding]) -> int:
    """0 when all is well, 1 when something is wrong."""
    return 1 if any(f.level in WRONG for f in findings) else 0


def render_text(findings: list[Finding]) -> str:
    """Grouped by scope, in the order the scopes first appear; one line per finding."""
    groups: dict[str, list[Finding]] = {}
    for finding in findings:
        groups.setdefault(finding.scope, []).append(finding)
    lines: list[str] = []
    for scope, members in groups.items():
        lines.append(scope)
        lines.extend("  " + f.line() for f in members)
    wrong = sum(f.level in WRONG for f in findings)
    lines.append(f"{wrong} problem{'s' if wrong != 1 else ''} found" if wrong else "all is well")
    return "\n".join(lines)


def render_json(findings: list[Finding]) -> dict[str, Any]:
    return {"ok": exit_code(findings) == 0,
            "findings": [{**asdict(f), "level": f.level.value} for f in findings]}
