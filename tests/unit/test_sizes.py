"""Byte sizes: what parses, what each mistake says, and how sizes print."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from platd.spec.errors import InvalidInput
from platd.spec.sizes import (
    GIB,
    KIB,
    MAX_MEMORY,
    MIB,
    MIN_MEMORY,
    TIB,
    format_size,
    parse_memory,
    parse_size,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("128M", 128 * MIB),
        ("128m", 128 * MIB),
        ("128MB", 128 * MIB),
        ("128Mi", 128 * MIB),
        ("128MiB", 128 * MIB),
        ("1G", GIB),
        ("1.5G", GIB + GIB // 2),
        ("512Ki", 512 * KIB),
        ("2T", 2 * TIB),
        (" 64 M ", 64 * MIB),
        ("4096", 4096),
        ("4096B", 4096),
        (134217728, 128 * MIB),
    ],
)
def test_parse_size_accepts_the_usual_spellings(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


def test_fractions_round_down_to_whole_bytes() -> None:
    assert parse_size("0.1K") == 102


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("", "it is empty"),
        ("   ", "it is empty"),
        ("-1", "cannot be negative"),
        ("-1G", "cannot be negative"),
        ("12X", 'unknown unit "X"'),
        ("12 parsecs", 'unknown unit "parsecs"'),
        ("G", "expected a number"),
        ("1.5", "must be whole"),
    ],
)
def test_unreadable_sizes_say_why(value: str, words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_size(value)
    assert words in caught.value.message
    assert f'"{value}"' in caught.value.message
    assert caught.value.hint, "every size error carries an example of what to type"
    assert "512M" in caught.value.hint[0]


def test_zero_is_below_the_minimum() -> None:
    with pytest.raises(InvalidInput, match=r'size "0" is below the minimum of 1B'):
        parse_size("0")
    with pytest.raises(InvalidInput, match=r"memory \"0\" is below the minimum of 6M"):
        parse_memory("0")


def test_negative_int_is_below_the_minimum() -> None:
    with pytest.raises(InvalidInput, match="below the minimum"):
        parse_size(-1)


def test_huge_sizes_are_refused_with_the_maximum() -> None:
    with pytest.raises(InvalidInput, match=r'size "999999T" is above the maximum of 1024T'):
        parse_size("999999T")
    with pytest.raises(InvalidInput, match=r'memory "2T" is above the maximum of 1T') as caught:
        parse_memory("2T")
    assert caught.value.hint == ["use at most 1T"]


def test_memory_bounds_are_dockers_minimum_and_one_terabyte() -> None:
    assert parse_memory("6M") == MIN_MEMORY
    assert parse_memory("1T") == MAX_MEMORY
    with pytest.raises(InvalidInput, match="below the minimum of 6M"):
        parse_memory(MIN_MEMORY - 1)


def test_a_bare_number_that_is_too_small_suggests_megabytes() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_memory("512")
    assert caught.value.hint == ['a bare number is bytes; did you mean "512M"?']


@pytest.mark.parametrize("value", [True, 1.5, None, ["1G"]])
def test_wrong_types_are_refused(value: object) -> None:
    with pytest.raises(InvalidInput, match="must be a size like"):
        parse_size(value)  # type: ignore[arg-type]


def test_custom_bounds_and_name() -> None:
    assert parse_size("1G", what="volume size", minimum=GIB) == GIB
    with pytest.raises(InvalidInput, match='volume size "512M" is below the minimum of 1G'):
        parse_size("512M", what="volume size", minimum=GIB)


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0B"),
        (1000, "1000B"),
        (KIB, "1K"),
        (128 * MIB, "128M"),
        (GIB + GIB // 2, "1.5G"),
        (GIB + GIB // 4, "1.25G"),
        (GIB - 1, "1G"),
        (1500 * KIB, "1500K"),
        (128 * MIB + 1, "128M"),
        (12345, "12.06K"),
        (3 * TIB, "3T"),
        (2048 * TIB, "2048T"),
    ],
)
def test_format_size(size: int, text: str) -> None:
    assert format_size(size) == text


def test_format_size_refuses_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_size(-1)


@given(st.integers(1, 1024 * TIB))
def test_format_size_reads_back_within_half_a_percent(size: int) -> None:
    back = parse_size(format_size(size))
    assert abs(back - size) <= size * 0.005 + 1


@given(st.integers(1, 4096), st.sampled_from([KIB, MIB, GIB]))
def test_whole_units_round_trip_exactly(amount: int, unit: int) -> None:
    assert parse_size(format_size(amount * unit)) == amount * unit
