"""Issue references a person types: OWNER/REPO#N, an issue URL, or a git remote with #N."""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = r"[A-Za-z0-9_.-]+"
_FORMS = (
    re.compile(rf"^(?P<owner>{_NAME})/(?P<repo>{_NAME})#(?P<number>\d+)$"),
    # https://host/owner/repo/issues/12 (GitHub and Gitea), with or without .git after repo
    re.compile(rf"^https?://(?P<host>[^/\s]+)/(?:.*/)?(?P<owner>{_NAME})/(?P<repo>{_NAME})/(?:issues|pull|pulls)/(?P<number>\d+)/?$"),
    # a remote with #N: https://host/owner/repo(.git)#12, ssh://git@host[:port]/owner/repo(.git)#12
    re.compile(rf"^(?:https?|ssh)://(?:[^@/\s]+@)?(?P<host>[^/\s]+)/(?:.*/)?(?P<owner>{_NAME})/(?P<repo>{_NAME})#(?P<number>\d+)$"),
    # scp-like: git@host:owner/repo(.git)#12
    re.compile(rf"^(?:[^@/\s]+@)?(?P<host>[^:/\s]+):(?P<owner>{_NAME})/(?P<repo>{_NAME})#(?P<number>\d+)$"),
)


@dataclass(frozen=True)
class IssueRef:
    repo: str
    number: int
    host: str | None = None  # from a URL: which forge it names


def parse_issue_ref(text: str) -> IssueRef:
    """ValueError with a one-line reason when `text` is none of the accepted forms."""
    text = text.strip()
    for form in _FORMS:
        match = form.match(text)
        if match:
            repo = match["repo"].removesuffix(".git")
            owner = match["owner"]
            if not repo or owner in (".", "..") or repo in (".", ".."):
                break
            number = int(match["number"])
            if number < 1:
                break
            return IssueRef(f"{owner}/{repo}", number, match.groupdict().get("host"))
    raise ValueError(f"{text[:80]!r} is not an issue: write OWNER/REPO#N or the issue's URL")
