"""fakeforge: a stateful GitHub + Gitea emulator for forgebot's tests (see forge.FakeForge)."""

from .actors import Actor
from .common import ApiError
from .forge import FakeForge
from .server import LoggedRequest
from .webhooks import Delivery

__all__ = ["Actor", "ApiError", "Delivery", "FakeForge", "LoggedRequest"]
