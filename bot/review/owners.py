"""OWNERS files (Prow's format): who may approve and who may review each changed file.

An `OWNERS` file in a directory covers everything under it, itself included:

    approvers: [alice, sig-widgets]     # logins or aliases from OWNERS_ALIASES
    reviewers: [bob]
    options: {no_parent_owners: true}   # the OWNERS files above this one have no say here

`OWNERS_ALIASES` at the root maps names to people (`aliases: {sig-widgets: [carol, dave]}`).
Logins and aliases compare without regard to case. A changed file needs one approval from the
approvers of its nearest OWNERS file that names approvers, or of any OWNERS file above that one
up to the root, stopping after a file with `no_parent_owners`. Keys Prow has and forgebot does not
act on (`labels`, `emeritus_approvers`, `security_contacts`, `filters`) are accepted and ignored,
as Prow's approve plugin ignores `filters`.

Pure: the caller reads the files (from the base branch, never the head) and passes their text.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import yaml

OWNERS = "OWNERS"
ALIASES = "OWNERS_ALIASES"
ROOT = ""  # the repository root, as a directory name


class OwnersError(ValueError):
    """An OWNERS or OWNERS_ALIASES file that cannot be read; the message names the file."""


@dataclass(frozen=True)
class OwnersFile:
    directory: str  # "" for the root, else "a/b"
    approvers: frozenset[str] = frozenset()  # lowercase logins, aliases expanded
    reviewers: frozenset[str] = frozenset()
    no_parent_owners: bool = False

    @property
    def path(self) -> str:
        return posixpath.join(self.directory, OWNERS) if self.directory else OWNERS


@dataclass(frozen=True)
class Requirement:
    """One OWNERS file a pull request needs an approver from, and who qualifies.

    `approvers` None means "anyone with write access" (a repository without OWNERS files or
    `review.approvers`)."""

    path: str
    approvers: frozenset[str] | None
    files: tuple[str, ...] = ()


def _logins(value: object, where: str, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(x, str | int) for x in value):
        raise OwnersError(f"{where}: {key} must be a list of logins")
    return [str(x).strip().lstrip("@").lower() for x in value if str(x).strip()]


def parse_aliases(text: str | None) -> dict[str, frozenset[str]]:
    """OWNERS_ALIASES: alias name (lowercase) -> its people (lowercase)."""
    if not text:
        return {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise OwnersError(f"{ALIASES}: not YAML ({exc.__class__.__name__})") from None
    aliases = (data or {}).get("aliases") if isinstance(data, dict) else None
    if aliases is None:
        return {}
    if not isinstance(aliases, dict):
        raise OwnersError(f"{ALIASES}: aliases must map names to lists of logins")
    return {str(name).lower(): frozenset(_logins(people, ALIASES, str(name))) for name, people in aliases.items()}


def parse_owners(directory: str, text: str, aliases: Mapping[str, frozenset[str]]) -> OwnersFile:
    where = posixpath.join(directory, OWNERS) if directory else OWNERS
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise OwnersError(f"{where}: not YAML ({exc.__class__.__name__})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise OwnersError(f"{where}: expected a mapping with approvers and reviewers")
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise OwnersError(f"{where}: options must be a mapping")

    def expand(key: str) -> frozenset[str]:
        people: set[str] = set()
        for name in _logins(data.get(key), where, key):
            people |= aliases.get(name, frozenset({name}))
        return frozenset(people)

    return OwnersFile(directory, expand("approvers"), expand("reviewers"), bool(options.get("no_parent_owners")))


def directories_of(paths: Iterable[str]) -> list[str]:
    """Every directory that may hold an OWNERS file for these paths, deepest first, root last."""
    found: dict[str, None] = {}
    for path in paths:
        directory = posixpath.dirname(path.strip("/"))
        while True:
            found[directory] = None
            if directory == ROOT:
                break
            directory = posixpath.dirname(directory)
    return sorted(found, key=lambda d: (-(d.count("/") + 1 if d else 0), d))


def owners_paths(changed: Iterable[str]) -> list[str]:
    """The OWNERS files to read for these changed files (most of which will not exist)."""
    return [posixpath.join(d, OWNERS) if d else OWNERS for d in directories_of(changed)]


@dataclass(frozen=True)
class Owners:
    """The OWNERS files of one base branch, by directory."""

    files: Mapping[str, OwnersFile] = field(default_factory=dict)

    @classmethod
    def parse(cls, texts: Mapping[str, str | None], aliases_text: str | None = None) -> Owners:
        """`texts`: OWNERS path -> its text (None: no such file)."""
        aliases = parse_aliases(aliases_text)
        files = {}
        for path, text in texts.items():
            if text is None:
                continue
            directory = posixpath.dirname(path)
            files[directory] = parse_owners(directory, text, aliases)
        return cls(files)

    def chain(self, path: str) -> list[OwnersFile]:
        """The OWNERS files that have a say over `path`, nearest first, stopping at no_parent_owners."""
        found = []
        directory = posixpath.dirname(path.strip("/"))
        while True:
            owners = self.files.get(directory)
            if owners is not None:
                found.append(owners)
                if owners.no_parent_owners:
                    break
            if directory == ROOT:
                break
            directory = posixpath.dirname(directory)
        return found

    def approvers_of(self, path: str) -> tuple[str | None, frozenset[str]]:
        """(the nearest OWNERS file naming approvers, everyone who may approve `path`);
        (None, empty) when no OWNERS file above it names an approver."""
        chain = [o for o in self.chain(path) if o.approvers]
        if not chain:
            return None, frozenset()
        return chain[0].path, frozenset().union(*(o.approvers for o in chain))

    def reviewers_of(self, path: str) -> frozenset[str]:
        """Who is asked to review `path`: the reviewers of its OWNERS chain (approvers when none)."""
        chain = self.chain(path)
        reviewers: frozenset[str] = frozenset().union(*(o.reviewers for o in chain))
        return reviewers or frozenset().union(*(o.approvers for o in chain))


def requirements(
    owners: Owners, changed: Iterable[str], fallback: frozenset[str] | None
) -> list[Requirement]:
    """Which approvals a change needs: one per nearest OWNERS file of its files.

    A file no OWNERS file covers needs one of `fallback` (`review.approvers`; None: anyone with
    write access), shared by all such files and named after the root OWNERS file.
    """
    by_path: dict[str, tuple[frozenset[str] | None, list[str]]] = {}
    for path in changed:
        nearest, approvers = owners.approvers_of(path)
        key, who = (nearest, approvers) if nearest is not None else (OWNERS, fallback)
        entry = by_path.setdefault(key, (who, []))
        if entry[0] is not None and who is not None and entry[0] != who:
            # The same nearest file with different parents cannot happen; keep the wider set.
            by_path[key] = (entry[0] | who, entry[1])
        by_path[key][1].append(path)
    return [Requirement(path, who, tuple(files)) for path, (who, files) in sorted(by_path.items())]
