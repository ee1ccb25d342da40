"""The Docker log readers without an engine: parsing, joining, resuming, following a file.

The json-file reader is driven against a file written the way dockerd writes it, so resuming
from a cursor, rotation, removal and half-written lines are checked deterministically.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from platd.runtime.base import LogBatch
from platd.runtime.docker_log_cursor import Resume
from platd.runtime.docker_log_file import follow_file
from platd.runtime.docker_log_lines import (
    MAX_LINE,
    join_pieces,
    parse_frames,
    parse_json_lines,
    parse_ns,
)
from platd.runtime.inotify import Inotify

T0 = "2026-11-27T10:04:50"
NS0 = int(datetime.fromisoformat(T0).replace(tzinfo=UTC).timestamp()) * 1_000_000_000


def entry(text: str, n: int = 0, stream: str = "stdout", newline: bool = True) -> bytes:
    return (json.dumps({"log": text + ("\n" if newline else ""), "stream": stream,
                        "time": f"{T0}.{n:09d}Z"}) + "\n").encode()


def frame(stream: int, payload: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload


# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ns"),
    [(f"{T0}Z", NS0), (f"{T0}.5Z", NS0 + 500_000_000), (f"{T0}.34205906Z", NS0 + 342_059_060),
     (f"{T0}.123456789Z", NS0 + 123_456_789), (f"{T0}.000000001Z", NS0 + 1),
     (f"{T0}.5+01:00", NS0 + 500_000_000 - 3600 * 1_000_000_000), ("garbage", 0), ("", 0)],
)
def test_parse_ns(text: str, ns: int) -> None:
    assert parse_ns(text) == ns


def test_parse_json_lines_reads_stream_time_and_strips_newlines() -> None:
    data = entry("hello", 1) + entry("oops", 2, "stderr") + entry("crlf\r", 3) + entry("", 4)
    assert parse_json_lines(data) == [
        (NS0 + 1, 1, "hello", True), (NS0 + 2, 2, "oops", True), (NS0 + 3, 1, "crlf", True),
        (NS0 + 4, 1, "", True),
    ]


def test_a_torn_line_is_skipped_and_the_rest_read() -> None:
    data = entry("a", 1) + b'{"log":"half\n' + entry("b", 2)
    pieces = parse_json_lines(data)
    assert pieces == [(NS0 + 1, 1, "a", True), None, (NS0 + 2, 1, "b", True)]


def test_parse_frames_keeps_a_cut_frame_for_later() -> None:
    one = frame(1, f"{T0}.1Z hi\n".encode())
    two = frame(2, f"{T0}.2Z \xff\xfe bin\n".encode("latin-1"))
    pieces, used = parse_frames(one + two[:5])
    assert pieces == [(NS0 + 100_000_000, 1, "hi", True)]
    assert used == len(one)
    pieces, used = parse_frames(two)
    assert pieces == [(NS0 + 200_000_000, 2, "\\xff\\xfe bin", True)]
    assert used == len(two)


# --- joining pieces ----------------------------------------------------------------------------


def test_pieces_of_a_long_line_are_joined_under_the_first_time() -> None:
    pieces = [(1, 1, "aaa", False), (2, 1, "bbb", False), (3, 1, "ccc", True), (4, 1, "next", True)]
    lines, used = join_pieces(pieces, force=False)
    assert lines == [(1, 1, "aaabbbccc", False), (4, 1, "next", False)]
    assert used == 4


def test_lines_stop_where_a_line_is_half_built() -> None:
    pieces = [(1, 1, "done", True), (2, 1, "half", False), (3, 2, "other stream", True)]
    lines, used = join_pieces(pieces, force=False)
    assert (lines, used) == ([(1, 1, "done", False)], 1)
    lines, used = join_pieces(pieces, force=True)
    assert used == 3
    assert sorted(lines) == [(1, 1, "done", False), (2, 1, "half", False),
                             (3, 2, "other stream", False)]


def test_overlong_lines_become_pieces_marked_as_continuing() -> None:
    text = "x" * (MAX_LINE * 2 + 10)
    lines, _ = join_pieces([(1, 1, text, True)], force=False)
    assert [(len(t), more) for _, _, t, more in lines] == [(MAX_LINE, True), (MAX_LINE, True),
                                                          (10, False)]
    assert "".join(t for _, _, t, _ in lines) == text


def test_unreadable_entries_are_passed_over() -> None:
    lines, used = join_pieces([None, (1, 1, "a", True), None], force=False)
    assert (lines, used) == ([(1, 1, "a", False)], 3)


# --- resuming ----------------------------------------------------------------------------------


def test_cursors_round_trip() -> None:
    r = Resume(ts=5, count=2, inode=7, offset=99)
    assert r.file_cursor() == "json:7:99:5:2"
    again = Resume.parse(r.file_cursor())
    assert (again.ts, again.count, again.inode, again.offset) == (5, 2, 7, 99)
    api = Resume.parse("api:5:2")
    assert (api.ts, api.count, api.inode) == (5, 2, 0)
    for bad in (None, "", "json:x:1:2:3", "api:1", "what:1:2"):
        assert Resume.parse(bad).ts == 0


def test_resuming_by_time_drops_exactly_what_was_yielded() -> None:
    r = Resume()
    r.accept([(1, 1, "a", False), (2, 1, "b", False), (2, 2, "c", False)])
    assert (r.ts, r.count) == (2, 2)
    r.start_skipping()
    again = [(2, 1, "b", False), (2, 2, "c", False), (2, 1, "d", False), (3, 1, "e", False),
             (1, 2, "late", False)]
    assert r.accept(again) == [(2, 1, "d", False), (3, 1, "e", False), (1, 2, "late", False)]
    assert (r.ts, r.count) == (3, 1)


# --- following a json-file log -------------------------------------------------------------------


@pytest.fixture(params=["inotify", "polling"])
def wakeups(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every follow test runs twice: woken by inotify, and polling as where it is missing."""
    if request.param == "polling":
        monkeypatch.setattr(Inotify, "get", classmethod(lambda cls: None))
    return str(request.param)


async def collect(gen: AsyncIterator[LogBatch], until: int,
                  timeout: float = 10.0) -> list[LogBatch]:
    batches: list[LogBatch] = []

    async def run() -> None:
        async for batch in gen:
            batches.append(batch)
            if sum(len(b.lines) for b in batches) >= until:
                return

    await asyncio.wait_for(run(), timeout)
    return batches


def texts(batches: list[LogBatch]) -> list[str]:
    return [line[2] for b in batches for line in b.lines]


def test_file_follow_resumes_exactly_at_its_cursor(tmp_path: Path, wakeups: str) -> None:
    path = tmp_path / "c-json.log"
    path.write_bytes(b"".join(entry(f"n={i}", i) for i in range(5)))

    async def main() -> None:
        stop = asyncio.Event()
        first = await collect(follow_file(str(path), Resume(), stop), until=5)
        assert texts(first) == [f"n={i}" for i in range(5)]
        cursor = first[-1].cursor
        with path.open("ab") as f:
            f.write(b"".join(entry(f"n={i}", i) for i in range(5, 8)))
        stop.set()
        rest = await collect(follow_file(str(path), Resume.parse(cursor), stop), until=99)
        assert texts(rest) == ["n=5", "n=6", "n=7"]

    asyncio.run(main())


def test_file_follow_sees_new_lines_and_stops_after_reading_everything(
    tmp_path: Path, wakeups: str
) -> None:
    path = tmp_path / "c-json.log"
    path.write_bytes(entry("first", 1))

    async def main() -> None:
        stop = asyncio.Event()
        seen: list[str] = []

        async def follow() -> None:
            async for batch in follow_file(str(path), Resume(), stop):
                seen.extend(t for _, _, t, _ in batch.lines)

        task = asyncio.create_task(follow())
        await asyncio.sleep(0.2)
        with path.open("ab") as f:
            f.write(entry("second", 2) + entry("half, then", 3, newline=False))
            f.write(entry(" the rest", 3))
            f.write(entry("last words, no newline", 4, newline=False))
        stop.set()
        await asyncio.wait_for(task, 10)
        assert seen == ["first", "second", "half, then the rest", "last words, no newline"]

    asyncio.run(main())


def test_a_half_written_line_is_not_split_while_more_may_come(tmp_path: Path, wakeups: str) -> None:
    path = tmp_path / "c-json.log"
    path.write_bytes(entry("start of a long line ", 1, newline=False))

    async def main() -> None:
        stop = asyncio.Event()
        gen = follow_file(str(path), Resume(), stop)
        task = asyncio.create_task(collect(gen, until=1))
        await asyncio.sleep(0.03)  # less than SETTLE: the reader waits for the rest
        with path.open("ab") as f:
            f.write(entry("and its end", 1))
        batches = await asyncio.wait_for(task, 10)
        assert texts(batches) == ["start of a long line and its end"]

    asyncio.run(main())


def test_file_follow_ends_when_the_file_is_removed(tmp_path: Path, wakeups: str) -> None:
    path = tmp_path / "c-json.log"
    path.write_bytes(entry("only", 1))

    async def main() -> None:
        seen: list[str] = []

        async def follow() -> None:
            async for batch in follow_file(str(path), Resume(), asyncio.Event()):
                seen.extend(t for _, _, t, _ in batch.lines)

        task = asyncio.create_task(follow())
        await asyncio.sleep(0.1)
        with path.open("ab") as f:
            f.write(entry("written just before removal", 2))
        path.unlink()
        await asyncio.wait_for(task, 10)
        assert seen == ["only", "written just before removal"]

    asyncio.run(main())


def test_file_follow_moves_to_the_new_file_after_a_rotation(tmp_path: Path, wakeups: str) -> None:
    path = tmp_path / "c-json.log"
    path.write_bytes(entry("old 1", 1))

    async def main() -> None:
        stop = asyncio.Event()
        seen: list[str] = []

        async def follow() -> None:
            async for batch in follow_file(str(path), Resume(), stop):
                seen.extend(t for _, _, t, _ in batch.lines)

        task = asyncio.create_task(follow())
        await asyncio.sleep(0.1)
        with path.open("ab") as f:
            f.write(entry("old 2", 2))
        os.rename(path, tmp_path / "c-json.log.1")
        path.write_bytes(entry("new 1", 3))
        for _ in range(100):
            if "new 1" in seen:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 10)
        assert seen == ["old 1", "old 2", "new 1"]

    asyncio.run(main())


def test_a_replaced_file_is_read_from_the_cursor_time_on(tmp_path: Path, wakeups: str) -> None:
    path = tmp_path / "c-json.log"
    path.write_bytes(b"".join(entry(f"n={i}", i) for i in range(4)))
    cursor = f"json:1:0:{NS0 + 1}:1"  # another inode: only the time and count can be used

    async def main() -> None:
        stop = asyncio.Event()
        stop.set()
        batches = await collect(follow_file(str(path), Resume.parse(cursor), stop), until=99)
        assert texts(batches) == ["n=2", "n=3"]

    asyncio.run(main())
