"""Loading `.forgebot.yml`: safe YAML with line numbers, `extends`, merging, validation.

Pure: the caller supplies a `fetch(repo, path)` coroutine that returns a file's text (or None),
so this module does no I/O of its own.

Merge rules for `extends: owner/repo[:path]` (the extended file is the base, this file wins):
mappings merge key by key, recursively; lists of named items merge by name (labels and branches
by `name`, milestones by `title`, webhooks by `url`), an item of this file replacing the base's
item of the same name field by field; any other value, lists of plain values included (topics),
replaces the base's.

What `extends` may reach: only repositories of the same owner (user or organisation) as the
repository whose file is loaded. forgebot reads the extended file with its own credentials and
posts what went wrong on the extending repository's commits and pull requests, so a file there
must never become a way to read another owner's private files. Within one owner, an extended
file that is missing or unreadable is "not found" alike, and a mistake in it is reported by
file and line only: its keys and values are never echoed (a public repository may extend, or
be made to extend, a private one).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from config.repo import CONFIG_PATHS, EXTENDS_RE, RepoConfig

MAX_EXTENDS_DEPTH = 5
MAX_FILE_BYTES = 256 * 1024
MAX_NESTING = 64  # the schema itself nests five levels
MAX_NUMBER_CHARS = 64  # no number in a config file needs more; YAML's base-60 ints cost quadratic time to build
ANCHOR_REFUSED = "anchors and aliases (&name, *name) are not allowed; repeat the values, or share them with extends"
NAMED_LISTS = {"labels": "name", "branches": "name", "milestones": "title", "webhooks": "url"}

Fetch = Callable[[str, str], Awaitable[str | None]]
Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config file, located as precisely as possible."""

    source: str  # "owner/repo:path"
    message: str
    path: str = ""  # "labels[2].color"
    line: int | None = None

    def __str__(self) -> str:
        where = self.source + (f":{self.line}" if self.line else "")
        return f"{where}: {self.path + ': ' if self.path else ''}{self.message}"


class ConfigError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass
class Loaded:
    """A valid, merged config and where it came from (this file first, then what it extends)."""

    config: RepoConfig
    sources: tuple[str, ...]
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


# -- YAML with positions --------------------------------------------------------------------------


class _RefusedYAML(yaml.MarkedYAMLError):
    """Valid YAML that a config file may not use."""


class _Loader(yaml.SafeLoader):
    """SafeLoader without anchors and aliases, with a bounded nesting depth, without duplicate
    keys, and with every value it cannot build reported as a YAML error at that value.

    An alias makes the document a shared graph: a few hundred bytes of nested aliases expand to
    millions of values in every walk of the tree (line table, validation, merging), and any pull
    request author can submit such a file. Sharing across files is what `extends` is for.
    Nesting is bounded because composing is recursive: a deep enough `[[[...]]]` would otherwise
    end in RecursionError instead of a config error. A duplicate key is an error because the
    YAML library keeps the last one silently, and the first was probably meant.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _RefusedYAML(problem=ANCHOR_REFUSED, problem_mark=event.start_mark)
        if self._depth >= MAX_NESTING:
            raise _RefusedYAML(problem=f"nested more than {MAX_NESTING} levels deep", problem_mark=event.start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # Building a value can fail outside YAML's own errors, with whatever the library's
        # constructor happens to raise: a date like 2026-13-45 (ValueError), `!!timestamp nope`
        # (AttributeError), `!!float abc`... The text is the file author's, so each is their mistake.
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except Exception as exc:
            raise _RefusedYAML(problem=f"cannot read this value: {_first_line(exc)}", problem_mark=node.start_mark) from None

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        if len(node.value) > MAX_NUMBER_CHARS:
            raise _RefusedYAML(problem=f"a number of {len(node.value)} characters; numbers here have at most {MAX_NUMBER_CHARS}",
                               problem_mark=node.start_mark)
        number: int = super().construct_yaml_int(node)
        return number

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):  # `!!map [1]`: the library's own error says so
            return super().construct_mapping(node, deep)
        first_lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = first_lines.get(key)
            except TypeError:  # an unhashable key: the library's own error says so below
                continue
            if first is not None:
                where = f"on lines {first} and {line}" if first != line else f"on line {line}"
                raise _RefusedYAML(problem=f"the key {_short(key)} is given twice, {where}", problem_mark=key_node.start_mark)
            first_lines[key] = line
        return super().construct_mapping(node, deep)


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)


def _first_line(exc: BaseException) -> str:
    return str(exc).split(";")[0].splitlines()[0] if str(exc) else type(exc).__name__


def _short(key: Any) -> str:
    text = repr(key)
    return text if len(text) <= 60 else text[:57] + "..."


def _lines(node: yaml.Node, path: Path_, table: dict[Path_, int]) -> None:
    table.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
            table[(*path, key)] = key_node.start_mark.line + 1
            _lines(value_node, (*path, key), table)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _lines(item, (*path, index), table)


def _compose(text: str) -> tuple[yaml.Node | None, Any]:
    """One pass over the text: the node tree (for line numbers) and the data built from it."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        return node, loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()


def parse_yaml(text: str, source: str) -> tuple[dict[str, Any], dict[Path_, int]]:
    """Safe-load one document; also return the line of every key and list item."""
    if len(text.encode()) > MAX_FILE_BYTES:
        raise ConfigError([Problem(source, f"file is larger than {MAX_FILE_BYTES // 1024} KiB")])
    try:
        node, data = _compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        prefix = "" if isinstance(exc, _RefusedYAML) else "not valid YAML: "
        raise ConfigError([Problem(source, prefix + reason, line=mark.line + 1 if mark else None)]) from None
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ConfigError([Problem(source, "the file must be a mapping of sections (labels:, repository:, ...)", line=1)])
    table: dict[Path_, int] = {}
    if node is not None:
        _lines(node, (), table)
    return data, table


def _dotted(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def validate(data: dict[str, Any], lines: dict[Path_, int], source: str) -> RepoConfig:
    try:
        return RepoConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            path = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            line = next((lines[path[:n]] for n in range(len(path), -1, -1) if path[:n] in lines), None)
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key"
            problems.append(Problem(source, message, _dotted(path), line))
        raise ConfigError(problems) from None


# -- extends and merging --------------------------------------------------------------------------


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` on top of `base` by the rules in the module docstring. Inputs are not changed."""
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = merge(current, value)
        elif key in NAMED_LISTS and isinstance(current, list) and isinstance(value, list):
            merged[key] = _merge_named(current, value, NAMED_LISTS[key])
        else:
            merged[key] = value
    return merged


def _merge_named(base: list[Any], override: list[Any], key: str) -> list[Any]:
    def name(item: Any) -> Any:
        return str(item.get(key, "")).lower() if isinstance(item, dict) else None

    result = list(base)
    positions = {name(item): i for i, item in enumerate(result) if name(item) is not None}
    for item in override:
        index = positions.get(name(item))
        if index is not None and isinstance(result[index], dict) and isinstance(item, dict):
            result[index] = merge(result[index], item)
        else:
            positions[name(item)] = len(result)
            result.append(item)
    return result


def parse_extends(value: str) -> tuple[str, str | None]:
    match = EXTENDS_RE.match(value)
    if not match:
        raise ValueError(f"{value!r} is not of the form owner/repo or owner/repo:path")
    return match.group("repo"), match.group("path")


async def _find(fetch: Fetch, repo: str, path: str | None) -> tuple[str, str] | None:
    """The text and path of a repository's config: the given path, or the first usual place."""
    for candidate in (path,) if path else CONFIG_PATHS:
        text = await fetch(repo, candidate)
        if text is not None:
            return text, candidate
    return None


def _owner(repo: str) -> str:
    return repo.partition("/")[0].lower()


def _redacted(exc: ConfigError, source: str) -> ConfigError:
    """An extended file's problems, located but without its contents (see the module docstring)."""
    first = next((p.line for p in exc.problems if p.line), None)
    count = len(exc.problems)
    message = f"not a valid config file ({count} problem{'s' if count != 1 else ''}); check it with forgebot config check"
    return ConfigError([Problem(source, message, line=first)])


async def load(repo: str, text: str, path: str, fetch: Fetch) -> Loaded:
    """Validate `text` (the file at `path` in `repo`), follow `extends`, merge, validate again."""
    source = f"{repo}:{path}"
    data, lines = parse_yaml(text, source)
    validate(data, lines, source)  # this file's own mistakes, with its own line numbers
    chain = [data]
    sources = [source]
    seen = {(repo.lower(), path)}
    current, current_source, current_lines = data, source, lines
    while current.get("extends"):
        if len(chain) > MAX_EXTENDS_DEPTH:
            raise ConfigError([Problem(source, f"extends goes deeper than {MAX_EXTENDS_DEPTH} files: {' -> '.join(sources)}")])
        line = current_lines.get(("extends",))
        base_repo, base_path = parse_extends(current["extends"])
        if _owner(base_repo) != _owner(repo):
            message = f"{current['extends']}: only a repository of {_owner(repo)} can be extended"
            raise ConfigError([Problem(current_source, message, "extends", line)])
        found = await _find(fetch, base_repo, base_path)
        if found is None:
            where = f"{base_repo}:{base_path}" if base_path else f"{base_repo} (no {', '.join(CONFIG_PATHS)})"
            raise ConfigError([Problem(current_source, f"extends {where}: not found", "extends", line)])
        base_text, found_path = found
        if (base_repo.lower(), found_path) in seen:
            raise ConfigError([Problem(current_source, f"extends makes a cycle: {' -> '.join(sources)} -> {base_repo}:{found_path}", "extends", line)])
        seen.add((base_repo.lower(), found_path))
        current_source = f"{base_repo}:{found_path}"
        try:
            current, current_lines = parse_yaml(base_text, current_source)
            validate(current, current_lines, current_source)
        except ConfigError as exc:
            raise _redacted(exc, current_source) from None
        chain.append(current)
        sources.append(current_source)
    merged: dict[str, Any] = {}
    for layer in reversed(chain):
        merged = merge(merged, {k: v for k, v in layer.items() if k != "extends"})
    return Loaded(validate(merged, {}, source), tuple(sources), merged)
