"""What the status page shows, as sections each feature registers: a section loads plain data (a
Table) and the page's one template renders every table the same way, escaped. A feature adds a
module with a `StatusSections` and lists it in bot/app.py's BUILTIN_STATUS_SECTIONS."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.engine.context import Context
    from bot.forges.base import Forge


def when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class Link:
    text: str
    href: str


Cell = str | Link | None


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: list[tuple[Cell, ...]]
    empty: str = "nothing"
    note: str | None = None


# A repository section: (ctx, forge, repo) -> Table. An engine section: (ctx, engine) -> Table,
# where `engine` is the running ForgebotApp (queue, scheduler, store).
RepoLoader = Callable[["Context", "Forge", str], Awaitable[Table]]
EngineLoader = Callable[["Context", Any], Awaitable[Table]]


@dataclass(frozen=True)
class RepoSection:
    key: str
    title: str
    order: int
    load: RepoLoader


@dataclass(frozen=True)
class EngineSection:
    key: str
    title: str
    order: int
    load: EngineLoader


@dataclass
class StatusSections:
    _repo: dict[str, RepoSection] = field(default_factory=dict)
    _engine: dict[str, EngineSection] = field(default_factory=dict)

    def repository(self, key: str, *, title: str, order: int = 100) -> Callable[[RepoLoader], RepoLoader]:
        def register(load: RepoLoader) -> RepoLoader:
            self._add(self._repo, RepoSection(key, title, order, load))
            return load

        return register

    def engine(self, key: str, *, title: str, order: int = 100) -> Callable[[EngineLoader], EngineLoader]:
        def register(load: EngineLoader) -> EngineLoader:
            self._add(self._engine, EngineSection(key, title, order, load))
            return load

        return register

    @staticmethod
    def _add(into: dict[str, Any], section: RepoSection | EngineSection) -> None:
        if section.key in into:
            raise ValueError(f"status section {section.key!r} is registered twice")
        into[section.key] = section

    def include(self, *others: StatusSections) -> StatusSections:
        for other in others:
            for repo_section in other._repo.values():
                self._add(self._repo, repo_section)
            for engine_section in other._engine.values():
                self._add(self._engine, engine_section)
        return self

    @property
    def repository_sections(self) -> list[RepoSection]:
        return sorted(self._repo.values(), key=lambda s: (s.order, s.key))

    @property
    def engine_sections(self) -> list[EngineSection]:
        return sorted(self._engine.values(), key=lambda s: (s.order, s.key))
