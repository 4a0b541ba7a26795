"""Real Gitea and Forgejo API traffic recorded by other projects (see reference/gitea-api/README.md).

Two formats, one model: packit/ogr's requre YAML (Forgejo v10: method, URL, status, headers and
the decoded body, per test, in call order; no request bodies) and go-gitea/gitea's migration mock
data (gitea.com and a local Forgejo: one file per GET, headers, a blank line, the raw body).
"""

from __future__ import annotations

import functools
import json
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.reference import REFERENCE

RECORDINGS = REFERENCE / "gitea-api"
_PARAM_RE = re.compile(r"\{(\w+)(:path)?\}")


@dataclass(frozen=True)
class Exchange:
    source: str  # the recording's file, relative to RECORDINGS
    method: str
    path: str  # /api/v1/..., without the query
    query: str
    status: int
    headers: dict[str, str]  # lower-case names
    content: bytes

    @property
    def body(self) -> Any:
        text = self.content.decode("utf-8", errors="replace").strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            return text

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.status} ({self.source})"


def _ogr(file: Path) -> list[Exchange]:
    data = yaml.safe_load(file.read_text())
    found = []
    for method, urls in ((data.get("httpx._client") or {}).get("send") or {}).items():
        for url, entries in urls.items():
            parts = urllib.parse.urlsplit(url)
            for entry in entries:
                out = entry["output"]
                content = out.get("_content")
                raw = content.encode() if isinstance(content, str) else json.dumps(content).encode()
                headers = {str(k).lower(): str(v) for k, v in (out.get("headers") or {}).items()}
                found.append(Exchange(str(file.relative_to(RECORDINGS)), method, parts.path, parts.query,
                                      int(out["status_code"]), headers, raw))
    return found


def _mock_data(file: Path) -> Exchange:
    method, _, target = urllib.parse.unquote(file.name).partition("_")
    head, _, body = file.read_bytes().partition(b"\n\n")
    headers = {}
    for line in head.decode().splitlines():
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    parts = urllib.parse.urlsplit(target)
    return Exchange(str(file.relative_to(RECORDINGS)), method, parts.path, parts.query, 200, headers, body)


@functools.lru_cache(maxsize=1)
def exchanges() -> tuple[Exchange, ...]:
    found: list[Exchange] = []
    for file in sorted(RECORDINGS.glob("ogr/**/*.yaml")):
        found += _ogr(file)
    for file in sorted(RECORDINGS.glob("gitea/**/_mock_data/*/*")):
        found.append(_mock_data(file))
    return tuple(found)


def template_regex(template: str) -> re.Pattern[str]:
    """"/repos/{owner}/{repo}/contents/{path:path}" -> a regex with one group per parameter."""
    parts, pos = [], 0
    for m in _PARAM_RE.finditer(template):
        parts.append(re.escape(template[pos:m.start()]))
        parts.append(f"(?P<{m.group(1)}>{'.+' if m.group(2) else '[^/]+'})")
        pos = m.end()
    parts.append(re.escape(template[pos:]))
    return re.compile("^/api/v1" + "".join(parts) + "$")
