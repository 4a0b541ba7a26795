"""The contract suite's fixture: a started Storage on each backend, empty and migrated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.storage.base import Storage
from bot.storage.open import open_storage
from tests.conftest import make_settings


@pytest.fixture
async def storage(tmp_path: Path, database_settings: dict[str, Any]) -> AsyncIterator[Storage]:
    """Parametrized over both backends (through `database_settings`): every contract test runs on
    SQLite and on PostgreSQL."""
    store = open_storage(make_settings(tmp_path, **database_settings, replica_id="replica-a"))
    await store.start()
    try:
        yield store
    finally:
        await store.stop()
