"""The platforms' web pages that API answers link to (`html_url`), as an anonymous browser sees them.

Only what a link from forgebot (the status page) leads to: a repository, an issue, a pull request.
GitHub serves pull requests at /pull/N, Gitea at /pulls/N; both answer /issues/N for either (GitHub
redirects, Gitea shows it), here both with the page. A private repository is a 404 to anyone not
signed in, on both platforms.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .forge import FakeForge

_PAGE = re.compile(r"^/(?P<owner>[^/]+)/(?P<repo>[^/.]+)(?:/(?P<kind>issues|pull|pulls)/(?P<number>\d+))?/?$")

Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


def _html(status: int, title: str) -> Answer:
    body = f"<!doctype html><title>{html.escape(title)}</title><h1>{html.escape(title)}</h1>\n".encode()
    return status, [(b"content-type", b"text/html; charset=utf-8")], body


def page(forge: FakeForge, method: str, path: str) -> Answer | None:
    """The page at `path`, a 404 page for what an anonymous reader may not see, or None for no page route."""
    match = _PAGE.match(path)
    if method not in ("GET", "HEAD") or match is None:
        return None
    repo = forge.state.repo(f"{match['owner']}/{match['repo']}")
    if repo is None or repo.private:
        return _html(404, "Not Found")
    if match["number"] is None:
        return _html(200, repo.full_name)
    issue = repo.issue(int(match["number"]))
    if issue is None:
        return _html(404, "Not Found")
    return _html(200, f"{issue.title} #{issue.number}")
