"""Where the recorded reference data is: FORGEBOT_REFERENCE, the workspace's ../shared/reference,
or the copy kept in tests/reference for clones that have only this repository."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def locate() -> Path:
    candidates = [os.environ.get("FORGEBOT_REFERENCE"), ROOT.parent / "shared" / "reference", ROOT / "tests" / "reference"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "signature-vectors.json").is_file():
            return Path(candidate)
    raise FileNotFoundError("no reference data: set FORGEBOT_REFERENCE or restore tests/reference")


REFERENCE = locate()
