"""Finding commands in a comment: lines that start with `/name`, outside code, quotes and HTML comments.

Markdown rules applied (the ones that decide what a reader sees as prose):
fenced code blocks (``` or ~~~, closed by a fence of the same character at least as long),
indented code (four spaces or a tab), block quotes (`>`), and HTML comments `<!-- ... -->`,
which may span lines, never hold commands. Up to three leading spaces are allowed, as in
Markdown. Arguments are split like a shell does, so `/label "good first issue"` is one label.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from dataclasses import dataclass

COMMAND_RE = re.compile(r"^ {0,3}/([A-Za-z][A-Za-z0-9-]{0,39})(?:\s+(.*))?$")
FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
MAX_COMMANDS = 20  # per comment: enough for real use, bounded against abuse


@dataclass(frozen=True)
class Command:
    name: str  # lowercase
    args: tuple[str, ...]
    line: str  # the line as written, for replies and for comparing edits


def _split(text: str) -> tuple[str, ...]:
    try:
        return tuple(shlex.split(text))
    except ValueError:  # an unbalanced quote: fall back to plain words
        return tuple(text.split())


def _strip_html_comments(body: str) -> str:
    """Blank out <!-- ... --> while keeping line breaks, so line numbers stay put."""
    out = []
    position = 0
    while True:
        start = body.find("<!--", position)
        if start < 0:
            out.append(body[position:])
            return "".join(out)
        end = body.find("-->", start + 4)
        out.append(body[position:start])
        if end < 0:  # unclosed: the rest is a comment
            out.append("\n" * body.count("\n", start))
            return "".join(out)
        out.append("\n" * body.count("\n", start, end))
        position = end + 3


def _closes(line: str, fence: str) -> bool:
    """A closing fence: only the opening's character, at least as many of it."""
    text = line.strip()
    return len(text) >= len(fence) and set(text) == {fence[0]}


def parse(body: str | None) -> list[Command]:
    """Every command in `body`, in order."""
    commands: list[Command] = []
    fence: str | None = None
    for raw in _strip_html_comments(body or "").splitlines():
        line = raw.rstrip()
        opening = FENCE_RE.match(line)
        if fence is not None:
            if _closes(line, fence):
                fence = None
            continue
        if opening:
            fence = opening.group(1)
            continue
        if line.startswith(("    ", "\t")) or line.lstrip().startswith(">"):
            continue
        match = COMMAND_RE.match(line)
        if match:
            commands.append(Command(match.group(1).lower(), _split(match.group(2) or ""), line.strip()))
            if len(commands) == MAX_COMMANDS:
                break
    return commands


def new_commands(body: str | None, previous: str | None) -> list[Command]:
    """On an edit, the commands whose lines were not in the previous body (each counted once)."""
    before = Counter(command.line for command in parse(previous))
    fresh = []
    for command in parse(body):
        if before[command.line]:
            before[command.line] -= 1
        else:
            fresh.append(command)
    return fresh
