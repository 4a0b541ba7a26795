"""Delivery bodies at rest: compressed when that pays, always given back byte for byte."""

from __future__ import annotations

import os

import pytest

from bot.events import MalformedPayload
from bot.storage import bodies
from tests.conftest import PLATFORMS, REFERENCE


@pytest.mark.parametrize("platform", PLATFORMS)
def test_recorded_payloads_shrink_and_come_back_byte_for_byte(platform: str) -> None:
    for path in sorted((REFERENCE / f"{platform}-webhooks").glob("*.json")):
        original = path.read_bytes()
        stored, encoding = bodies.encode(original)
        if encoding is None:  # only small or incompressible bodies stay as they are
            assert stored == original and (len(original) < 1024), path.name
            continue
        assert encoding == "lz4" and len(stored) < len(original), path.name
        assert bodies.decode(stored, encoding) == original, path.name


def test_small_and_incompressible_bodies_are_stored_as_received() -> None:
    small = b'{"zen":"Design for failure."}'
    noise = os.urandom(4096)
    assert bodies.encode(small) == (small, None)
    assert bodies.encode(noise) == (noise, None)
    assert bodies.decode(noise, None) == noise


def test_stored_bytes_that_do_not_decode_are_a_malformed_payload() -> None:
    packed, encoding = bodies.encode(b'{"action":"created","padding":"' + b"x" * 4000 + b'"}')
    with pytest.raises(MalformedPayload, match="does not decompress"):
        bodies.decode(packed[:-20], encoding)
    with pytest.raises(MalformedPayload, match="unknown encoding 'zstd'"):
        bodies.decode(packed, "zstd")
