"""Issue dependencies as people write them: `#12`, `owner/repo#12`, "Depends on #N" lines.

Pure parsing; the edges themselves are kept by `bot.storage.dependencies`. An issue is
(repo, number), the repository in lowercase.
"""

from __future__ import annotations

import re

IssueRef = tuple[str, int]

# One line each: `[^\S\n]` is whitespace but a line break. With `\s`, "Depends on" followed by
# line breaks alone (anyone who can open an issue can write 65,000 of them) backtracked
# quadratically, holding the event loop for about 100 s per read.
DEPENDENCY_LINE_RE = re.compile(
    r"^[^\S\n]{0,3}(?:depends[^\S\n]+on|blocked[^\S\n]+by)[^\S\n]*:?[^\S\n]+(.+)$", re.IGNORECASE | re.MULTILINE
)
# Owner and name as long as the platforms allow (GitHub 39 and 100, Gitea 40 and 100). Unbounded,
# a run of name characters with no "/" in it was scanned to its end from every "." or "-"
# in it: 16,000 dashes took 0.9 s, a whole line of an issue body far longer.
REF_RE = re.compile(r"(?<![\w/])(?:(?P<repo>[A-Za-z0-9_.-]{1,40}/[A-Za-z0-9_.-]{1,100}))?#(?P<number>\d{1,9})\b")
MAX_DEPENDENCIES = 50


def parse_refs(text: str, repo: str) -> list[IssueRef]:
    """`#12`, `owner/repo#12` -> (repo, number), in order, without repeats."""
    found: list[IssueRef] = []
    for match in REF_RE.finditer(text):
        ref = ((match.group("repo") or repo).lower(), int(match.group("number")))
        if ref not in found:
            found.append(ref)
    return found


def body_dependencies(body: str | None, repo: str) -> list[IssueRef]:
    refs: list[IssueRef] = []
    for line in DEPENDENCY_LINE_RE.findall(body or ""):
        refs.extend(ref for ref in parse_refs(line, repo) if ref not in refs)
    return refs[:MAX_DEPENDENCIES]
