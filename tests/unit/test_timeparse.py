"""Times on the command line and in every listing (platd/spec/timeparse.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from platd.spec.errors import InvalidInput
from platd.spec.timeparse import format_age, format_utc, parse_duration, parse_time


@given(st.floats(min_value=-1e9, max_value=4e9, allow_nan=False))
def test_format_utc_agrees_with_datetime_to_the_digit(ts: float) -> None:
    moment = datetime.fromtimestamp(ts, UTC)
    want = moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond // 1000:03d}Z"
    assert format_utc(ts) == want
    assert format_utc(ts, millis=False) == want[:19] + "Z"


def test_format_utc_examples() -> None:
    assert format_utc(1_795_000_000.0) == "2026-11-18T11:06:40.000Z"
    assert format_utc(1_795_000_000.9999996) == "2026-11-18T11:06:41.000Z"  # rounds up a second
    assert format_utc(0.5, millis=False) == "1970-01-01T00:00:00Z"


def test_durations_and_times() -> None:
    assert parse_duration("10m") == 600
    assert parse_duration("250ms") == 0.25
    assert parse_time("2h", now=10_000.0) == 2_800.0
    assert parse_time("2026-11-27T09:30:00Z", now=0) == 1_795_771_800.0
    assert parse_time("2026-11-27T09:30:00", now=0) == 1_795_771_800.0, "no zone means UTC"
    with pytest.raises(InvalidInput, match="cannot read time 'yesterday'"):
        parse_time("yesterday", now=0)
    with pytest.raises(InvalidInput, match="cannot read duration '10 minutes'"):
        parse_duration("10 minutes")


def test_ages() -> None:
    assert [format_age(s) for s in (-5, 59, 60, 3_599, 3_600, 86_399, 90_000)] == \
        ["0s", "59s", "1m", "59m", "1h00m", "23h59m", "1d1h"]
