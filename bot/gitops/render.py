"""Plans for people (a diff) and for programs (JSON)."""

from __future__ import annotations

import dataclasses
import enum
import json
from datetime import date
from typing import Any

from bot.gitops.plan import Change, ChangeKind

SIGNS = {ChangeKind.CREATE: "+", ChangeKind.UPDATE: "~", ChangeKind.RENAME: "~", ChangeKind.DELETE: "-"}


def plain(value: Any) -> Any:
    """Models, enums and dates as JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value) if getattr(value, f.name) is not None}
    if isinstance(value, enum.Enum):
        return value.value if not isinstance(value, int) else value.name.lower()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _show(value: Any) -> str:
    return json.dumps(plain(value), ensure_ascii=False)


def _fields(current: Any, wanted: Any) -> str:
    before, after = plain(current) or {}, plain(wanted) or {}
    if not isinstance(before, dict) or not isinstance(after, dict):
        return f"{_show(current)} -> {_show(wanted)}"
    changed = [k for k in after if before.get(k) != after.get(k)]
    return "; ".join(f"{k}: {_show(before.get(k))} -> {_show(after.get(k))}" for k in changed)


def line(change: Change) -> str:
    sign = SIGNS[change.kind]
    if change.kind is ChangeKind.CREATE:
        wanted = plain(change.wanted)
        detail = " ".join(f"{k}={_show(v)}" for k, v in wanted.items() if k not in ("name", "title", "url", "login", "branch"))
        return f"{sign} {change.target}  {detail}".rstrip()
    if change.kind is ChangeKind.DELETE:
        return f"{sign} {change.target}"
    if change.kind is ChangeKind.RENAME:
        return f"{sign} {change.target} -> {change.wanted.name}  {_fields(change.current, change.wanted)}".rstrip()
    if change.resource == "topics":
        return f"{sign} topics  {change.why}"
    return f"{sign} {change.target}  {_fields(change.current, change.wanted)}"


def diff(changes: tuple[Change, ...]) -> str:
    return "\n".join(line(c) for c in changes)


def summary(changes: tuple[Change, ...]) -> str:
    if not changes:
        return "no changes"
    counts = {kind: sum(1 for c in changes if c.kind is kind) for kind in ChangeKind}
    parts = ", ".join(f"{n} to {kind.value}" for kind, n in counts.items() if n)
    return f"{len(changes)} change{'s' if len(changes) != 1 else ''} ({parts})"


def as_json(change: Change) -> dict[str, Any]:
    return {"kind": change.kind.value, "target": change.target, "current": plain(change.current), "wanted": plain(change.wanted), "why": change.why}
