"""What the HTTP routes read from the running application.

`bot/app.py`'s `ForgebotApp` composes the routes (bot/http/api.py, bot/status/routes.py,
handlers/agents.py, handlers/worktrees_api.py) and hands itself to them. They take it as
`AppParts`, the parts they use, so that the app imports them and none of them imports the app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bot.engine.dispatch import Processor
    from bot.engine.inbox import DeliveryQueue
    from bot.engine.leadership import Leadership
    from bot.engine.metrics import Metrics
    from bot.engine.router import Router
    from bot.engine.scheduler import Scheduler
    from bot.forges.provider import Forges
    from bot.storage.base import Storage
    from config.settings import Settings


class AppParts(Protocol):
    settings: Settings
    storage: Storage
    processor: Processor  # `processor.context()`: a Context for a request
    forges: Forges
    router: Router
    metrics: Metrics
    inbox: DeliveryQueue  # SQLite's Inbox or PostgreSQL's LeasedInbox
    scheduler: Scheduler
    worktree_host: Leadership | None  # the 'worktrees' lease, where FORGEBOT_WORKTREE_HOST is on

    def capabilities(self) -> frozenset[str]: ...
