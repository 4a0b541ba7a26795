"""Logging: JSON or text lines carrying the structured fields passed in `extra`.

Known secret values are masked in every emitted line as a last line of defence; the code
itself never passes a secret to a logger.

Identical lines (same logger, level and message, whatever their fields) are shown once per
`repeat_window`: a failing disk once wrote 190,000 identical error lines in 23 s. The last line
held back in a window is shown once the window is over, with `repeated=N`, the number of lines
held back; it comes out with the next line logged after the window, or when logging shuts down.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TextIO

# Attributes every LogRecord has; anything else came in through `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName", "color_message"}


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_extras(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        fields = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        text = f"{stamp} {record.levelname.lower():7} {record.name}: {record.getMessage()}"
        if fields:
            text += f"  {fields}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class _Redacting(logging.Formatter):
    def __init__(self, inner: logging.Formatter, secrets: Iterable[str]) -> None:
        super().__init__()
        self.inner = inner
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        text = self.inner.format(record)
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text


REPEAT_WINDOW = 10.0
# Distinct lines remembered at once; past this the oldest are forgotten (and may show again).
MAX_REMEMBERED = 1024


class _Seen:
    __slots__ = ("since", "held", "last")

    def __init__(self, since: float) -> None:
        self.since = since
        self.held = 0
        self.last: logging.LogRecord | None = None


class CollapsingHandler(logging.StreamHandler):
    """A stream handler that shows each distinct line at most once per window (see above)."""

    def __init__(self, stream: TextIO, window: float = REPEAT_WINDOW, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(stream)
        self.window = window
        self.clock = clock
        self.seen: dict[tuple[str, int, str], _Seen] = {}
        self._swept = float("-inf")

    def handle(self, record: logging.LogRecord) -> bool:
        now = self.clock()
        if now - self._swept >= min(1.0, self.window):
            self._sweep(now)
        key = (record.name, record.levelno, record.getMessage())
        seen = self.seen.get(key)
        if seen is not None and now - seen.since < self.window:
            seen.held += 1
            seen.last = record
            return False
        if seen is not None:
            self._show_held(seen)
        self.seen.pop(key, None)
        self.seen[key] = _Seen(now)
        if len(self.seen) > MAX_REMEMBERED:
            self._show_held(self.seen.pop(next(iter(self.seen))))
        return bool(super().handle(record))

    def _sweep(self, now: float) -> None:
        """Show what windows now over held back, and forget them."""
        self._swept = now
        for key in [k for k, seen in self.seen.items() if now - seen.since >= self.window]:
            self._show_held(self.seen.pop(key))

    def _show_held(self, seen: _Seen) -> None:
        if seen.held and seen.last is not None:
            seen.last.repeated = seen.held
            super().handle(seen.last)
            seen.held, seen.last = 0, None

    def close(self) -> None:
        for seen in self.seen.values():
            self._show_held(seen)
        self.seen.clear()
        super().close()


def configure(*, fmt: str, level: str, secrets: Iterable[str] = (), repeat_window: float = REPEAT_WINDOW) -> None:
    """Send all logs to stderr in the chosen format; replaces any earlier configuration."""
    handler = CollapsingHandler(sys.stderr, window=repeat_window)
    inner: logging.Formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    handler.setFormatter(_Redacting(inner, secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log would cost a line per delivery; our own logs say what matters.
    logging.getLogger("uvicorn.access").disabled = True
