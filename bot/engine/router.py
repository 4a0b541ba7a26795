"""Router: where handlers register for events, commands and scheduled jobs.

Each handler module owns one `Router`; `bot/app.py` composes them into one. The router only
knows names and metadata; the worker calls `dispatch`, the command handler looks commands up,
the scheduler reads `jobs`, and help is generated from `commands`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.events import Event
from bot.types import Ordered

logger = logging.getLogger(__name__)

# A handler takes the event and its Context (bot/engine/context.py). The Context carries this
# router (commands look each other up through it), so the router names it only as `Any`: the
# two modules would otherwise import each other.
Handler = Callable[[Event, Any], Awaitable[None]]
Predicate = Callable[[Event], bool]
CommandHandler = Callable[..., Awaitable[Any]]
JobFunc = Callable[..., Awaitable[None]]


class WhenFailed(Exception):
    """A handler's `when` test raised: the delivery's failure, recorded and retried like a handler's."""


def _test(handler: Handler, when: Predicate, event: Event) -> bool:
    try:
        return when(event)
    except Exception as exc:
        name = f"{handler.__module__}.{handler.__qualname__}"
        raise WhenFailed(f"the when test of {name} raised {type(exc).__name__}: {exc}") from exc


class Level(Ordered):
    """Who may run a command, from least to most privileged."""

    ANYONE = 0
    AUTHOR = 1
    TRIAGE = 2
    WRITE = 3
    MAINTAIN = 4
    ADMIN = 5


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A comment command and what help says about it."""

    name: str
    handler: CommandHandler
    usage: str
    description: str
    level: Level = Level.ANYONE
    aliases: tuple[str, ...] = ()
    on_pulls: bool = True
    on_issues: bool = True
    # Whether the repository's config turns the command on (None: always). Where it is off, the
    # word is left to other bots, as an unknown /word is.
    active: Callable[[Any], bool] | None = None


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A scheduled job; `every` is seconds, or a function of the settings giving seconds.

    `first` is how many seconds after start it first runs; None: one interval after start.
    `lease` is the named lease whose holder runs it (bot/engine/leadership.py): 'scheduler' (the
    leader), or 'worktrees' for a job that needs the worktree root (the worktree host).
    """

    name: str
    func: JobFunc
    every: float | Callable[[Any], float]
    jitter: float = 0.0
    first: float | None = None
    lease: str = "scheduler"

    def interval(self, settings: Any) -> float:
        return float(self.every(settings) if callable(self.every) else self.every)


@dataclass
class Router:
    """Handlers by event (and optional action), commands by name, and jobs."""

    _handlers: dict[tuple[str, str | None], list[tuple[Handler, Predicate | None]]] = field(default_factory=dict)
    _commands: dict[str, CommandSpec] = field(default_factory=dict)
    _jobs: dict[str, JobSpec] = field(default_factory=dict)
    # What a handler needs of the replica that runs it (e.g. "worktrees": the host of the worktree
    # root), for the handlers registered with `needs`.
    _needs: dict[Handler, str] = field(default_factory=dict)

    # -- registration ----------------------------------------------------------------------

    def on(
        self, event: str, action: str | None = None, *, when: Predicate | None = None, needs: str | None = None
    ) -> Callable[[Handler], Handler]:
        """Register a handler for `event`, or only for `event` with this `action`.

        `when` is a cheap test of the event (no I/O): a delivery no handler wants is finished
        as ignored without running anything, and without counting an attempt.

        `needs` names a capability only some replica has at a time ("worktrees": it holds the
        worktree root): with several replicas, a delivery this handler takes runs on that one.
        """

        def register(handler: Handler) -> Handler:
            self._handlers.setdefault((event, action), []).append((handler, when))
            if needs is not None:
                self._needs[handler] = needs
            return handler

        return register

    def command(
        self,
        name: str,
        *,
        usage: str,
        description: str,
        level: Level = Level.ANYONE,
        aliases: Iterable[str] = (),
        on_pulls: bool = True,
        on_issues: bool = True,
        active: Callable[[Any], bool] | None = None,
    ) -> Callable[[CommandHandler], CommandHandler]:
        def register(handler: CommandHandler) -> CommandHandler:
            self._add_command(
                CommandSpec(name.lower(), handler, usage, description, level, tuple(aliases), on_pulls, on_issues, active)
            )
            return handler

        return register

    def _add_command(self, spec: CommandSpec) -> None:
        for word in (spec.name, *spec.aliases):
            if word in self._commands:
                raise ValueError(f"command /{word} is registered twice")
            self._commands[word] = spec

    def job(
        self, name: str, *, every: float | Callable[[Any], float], jitter: float = 0.0, first: float | None = None,
        lease: str = "scheduler",
    ) -> Callable[[JobFunc], JobFunc]:
        def register(func: JobFunc) -> JobFunc:
            if name in self._jobs:
                raise ValueError(f"job {name!r} is registered twice")
            self._jobs[name] = JobSpec(name, func, every, jitter, first, lease)
            return func

        return register

    def include(self, *routers: Router) -> Router:
        """Add every registration of `routers` to this one."""
        for other in routers:
            for key, handlers in other._handlers.items():
                self._handlers.setdefault(key, []).extend(handlers)
            for spec in other.commands:
                self._add_command(spec)
            self._needs.update(other._needs)
            for name, job in other._jobs.items():
                if name in self._jobs:
                    raise ValueError(f"job {name!r} is registered twice")
                self._jobs[name] = job
        return self

    # -- lookup ----------------------------------------------------------------------------

    def handlers_for(self, event: Event) -> list[Handler]:
        """The handlers registered for `event` whose `when` test takes it; WhenFailed if a test raised."""
        found = list(self._handlers.get((event.name, None), ()))
        if event.action is not None:
            found.extend(self._handlers.get((event.name, event.action), ()))
        return [handler for handler, when in found if when is None or _test(handler, when, event)]

    def needs(self, handlers: Iterable[Handler]) -> str | None:
        """The capability a replica must have to run these handlers (the first named), or None."""
        return next((self._needs[h] for h in handlers if h in self._needs), None)

    def find_command(self, name: str) -> CommandSpec | None:
        return self._commands.get(name.lower())

    @property
    def commands(self) -> list[CommandSpec]:
        """Each command once, by name."""
        unique = {spec.name: spec for spec in self._commands.values()}
        return [unique[name] for name in sorted(unique)]

    @property
    def jobs(self) -> list[JobSpec]:
        return list(self._jobs.values())
