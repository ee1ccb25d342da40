"""UUIDv7 ids: layout per RFC 9562, and strictly increasing within one process."""

from __future__ import annotations

import itertools
import os
import time
import uuid

import pytest

from platd.spec import ids


def _millis(value: str) -> int:
    return uuid.UUID(value).int >> 80


def test_uuid7_has_version_7_and_rfc_variant() -> None:
    for _ in range(100):
        parsed = uuid.UUID(ids.uuid7())
        assert parsed.version == 7
        assert (parsed.int >> 62) & 0b11 == 0b10
        assert parsed.variant == uuid.RFC_4122


def test_uuid7_is_canonical_lowercase_text() -> None:
    value = ids.uuid7()
    assert len(value) == 36
    assert str(uuid.UUID(value)) == value


def test_uuid7_strictly_increases_in_a_tight_loop() -> None:
    values = [ids.uuid7() for _ in range(10_000)]
    assert all(a < b for a, b in itertools.pairwise(values))
    assert len(set(values)) == len(values)
    # Text order and numeric order agree, so either can be used to sort rows.
    assert [uuid.UUID(v).int for v in values] == sorted(uuid.UUID(v).int for v in values)


def test_uuid7_timestamp_is_now() -> None:
    before = time.time_ns() // 1_000_000
    value = ids.uuid7()
    after = time.time_ns() // 1_000_000
    assert before - 2 <= _millis(value) <= after + 2


def _freeze(monkeypatch: pytest.MonkeyPatch, millis: int, random_bytes: bytes) -> None:
    monkeypatch.setattr(ids, "_last_ms", 0)
    monkeypatch.setattr(ids, "_last_rand", 0)
    monkeypatch.setattr(time, "time_ns", lambda: millis * 1_000_000)
    monkeypatch.setattr(os, "urandom", lambda n: random_bytes[:n])


def test_uuid7_stays_ordered_when_the_clock_goes_backwards(monkeypatch: pytest.MonkeyPatch) -> None:
    _freeze(monkeypatch, 1_700_000_000_000, bytes(10))
    first = ids.uuid7()
    monkeypatch.setattr(time, "time_ns", lambda: (1_700_000_000_000 - 5_000) * 1_000_000)
    second = ids.uuid7()
    assert second > first
    assert _millis(second) == 1_700_000_000_000


def test_uuid7_counter_overflow_moves_to_the_next_millisecond(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The random field starts at its maximum, so the next id in the same millisecond cannot
    # count up within it; it must borrow the next millisecond rather than wrap to a smaller id.
    _freeze(monkeypatch, 1_700_000_000_000, b"\xff" * 10)
    first = ids.uuid7()
    second = ids.uuid7()
    third = ids.uuid7()
    assert first < second < third
    assert _millis(second) == 1_700_000_000_001
    for value in (first, second, third):
        assert uuid.UUID(value).version == 7


def test_short_id_is_lowercase_alphanumeric() -> None:
    values = {ids.short_id() for _ in range(1000)}
    assert len(values) == 1000
    assert all(len(v) == 10 and v.isalnum() and v == v.lower() for v in values)
    assert len(ids.short_id(4)) == 4
