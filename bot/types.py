"""Small shared types."""

from __future__ import annotations

import enum
from typing import TypeVar

L = TypeVar("L", bound="Ordered")


class Ordered(enum.IntEnum):
    """A ladder of levels written in lowercase words (`write`, `admin`), compared by rank."""

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls: type[L], text: str) -> L:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(level.label for level in cls)
            raise ValueError(f"unknown {cls.__name__.lower()} {text!r}; use one of {names}") from None
