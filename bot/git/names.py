"""Branch names for issues: a template, a prefix per label, a slug from the title by allow-list,
and git's own rules (`git check-ref-format`) as the last word.

Titles and arguments are untrusted: the slug keeps only a-z, 0-9 and '-', so no '..', '/', '@{',
leading '-' or control character can come from a title; prefixes come from the repository's
config and are checked by git like the whole name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Container, Mapping, Sequence

from bot.git.runner import run_git

DEFAULT_TEMPLATE = "{prefix}{number}-{slug}"
SLUG_MAX = 40
NAME_MAX_BYTES = 199  # under 200: every filesystem and both platforms take it (GitHub allows 255)
FIELDS_RE = re.compile(r"\{(\w*)\}")
FIELDS = frozenset({"prefix", "number", "slug"})


class BadBranchName(ValueError):
    pass


def slugify(title: str, limit: int = SLUG_MAX) -> str:
    """'Fix: the Widget's ünïcode bug!' -> 'fix-the-widget-s-unicode-bug'."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    if len(slug) > limit:
        cut = slug[:limit]
        slug = (cut.rsplit("-", 1)[0] if "-" in cut[limit // 2:] else cut).strip("-")
    return slug


def check_template(template: str) -> str:
    used = set(FIELDS_RE.findall(template))
    if not used <= FIELDS:
        raise ValueError(f"branch template may use only {{prefix}}, {{number}} and {{slug}}, not {sorted(used - FIELDS)}")
    if "number" not in used:
        raise ValueError("branch template must contain {number}, so each issue gets its own branch")
    return template


def prefix_for(labels: Sequence[str], prefixes: Mapping[str, str], default: str) -> str:
    """The prefix of the first label (in the config's order) the issue carries."""
    names = {label.lower() for label in labels}
    for label, prefix in prefixes.items():
        if label.lower() in names:
            return prefix
    return default


def render(template: str, prefix: str, number: int, title: str) -> str:
    """The branch name, its slug shortened until the whole name fits in NAME_MAX_BYTES."""
    slug = slugify(title)
    while True:
        name = template.format(prefix=prefix, number=number, slug=slug)
        name = re.sub(r"-{2,}", "-", name).strip("-")  # an empty slug leaves no dangling hyphen
        if len(name.encode()) <= NAME_MAX_BYTES or not slug:
            break
        slug = slug[: len(slug) - (len(name.encode()) - NAME_MAX_BYTES)].strip("-")
    if len(name.encode()) > NAME_MAX_BYTES:
        raise BadBranchName("the branch prefix is too long for a branch name")
    return name


def with_suffix(name: str, taken: Container[str]) -> str:
    """`name`, or `name-2`, `name-3`... : the first that `taken` does not hold."""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        tail = f"-{n}"
        candidate = name[: NAME_MAX_BYTES - len(tail)] + tail
    return candidate


async def check_branch_name(name: str, env: Mapping[str, str]) -> str:
    """`name` when git accepts it as a branch; BadBranchName otherwise (in words a user can act on)."""
    if not name or name.startswith("-") or len(name.encode()) > NAME_MAX_BYTES or name.startswith("refs/"):
        raise BadBranchName(f"{name[:60]!r} is not a branch name forgebot accepts")
    result = await run_git(["check-ref-format", f"refs/heads/{name}"], env=env, ok=(0, 1))
    if result.code != 0 or any(c in name for c in "\0\r\n"):
        raise BadBranchName(f"{name[:60]!r} is not a valid branch name")
    return name

