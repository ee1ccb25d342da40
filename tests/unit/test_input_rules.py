"""The pure rules behind bounded inputs: what may run inside an instance
(``platd.spec.runtime_rules``), how deep a JSON body may nest (``platd.spec.input_limits``)
and which times a query may name (``platd.spec.timeparse``)."""

from __future__ import annotations

import pytest

from platd.spec.errors import InvalidInput
from platd.spec.input_limits import MAX_JSON_DEPTH, json_too_deep
from platd.spec.runtime_rules import (
    build_path_problem,
    command_arg_problem,
    http_path_problem,
    image_problem,
    mount_problem,
)
from platd.spec.timeparse import parse_duration, parse_time


@pytest.mark.parametrize(("path", "words"), [
    ("/healthz\r\nHost: x", "carriage return"), ("/a\nb", "line feed"), ("/a\0", "NUL"),
    ("/a b", "space"), ("/a\tb", "tab"), ("/\x1b[31m", "0x1b"), ("healthz", 'start with "/"'),
    ("/" + "a" * 3000, "2048"),
])
def test_health_paths_that_cannot_be_a_request_line(path: str, words: str) -> None:
    problem = http_path_problem(path)
    assert problem is not None
    assert words in problem


@pytest.mark.parametrize("path", ["/", "/healthz", "/a/b?c=d&e=%20f", "/ready#x"])
def test_ordinary_health_paths_pass(path: str) -> None:
    assert http_path_problem(path) is None


@pytest.mark.parametrize(("mount", "words"), [
    ("/proc", "/proc"), ("/proc/sys", "/proc"), ("//proc", "/proc"), ("/./sys", "/sys"),
    ("/sys/", "/sys"), ("/dev/shm", "/dev"), ("/run/secrets", "secret"), ("/", "root"),
    ("rel", "absolute"), ("/a/../b", ".."), ("/a\0", "NUL"), ("/a\nb", "line feed"),
])
def test_mounts_that_are_refused(mount: str, words: str) -> None:
    problem = mount_problem(mount)
    assert problem is not None
    assert words in problem


@pytest.mark.parametrize("mount", ["/data", "/var/lib/app", "/procfs", "/system", "/devices"])
def test_mounts_that_pass(mount: str) -> None:
    assert mount_problem(mount) is None


def test_command_arguments() -> None:
    assert command_arg_problem("-p") is None
    assert "NUL" in (command_arg_problem("a\0b") or "")
    assert "KiB" in (command_arg_problem("x" * 70_000) or "")


@pytest.mark.parametrize(("ref", "ok"), [
    ("nginx:1.27", True), ("127.0.0.1:5000/hello@sha256:" + "a" * 64, True), ("", False),
    ("a b", False), ("a\0b", False), ("a\nb", False), ("a" * 600, False),
])
def test_image_references(ref: str, ok: bool) -> None:
    assert (image_problem(ref) is None) is ok


@pytest.mark.parametrize(("path", "ok"), [
    (".", True), ("app", True), ("a/b/../c", True), ("/etc", False), ("..", False),
    ("a/../../b", False), ("a\0", False), ("x" * 2000, False),
])
def test_build_paths_stay_inside(path: str, ok: bool) -> None:
    assert (build_path_problem(path, "context") is None) is ok


@pytest.mark.parametrize(("body", "deep"), [
    (b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH, False),
    (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), True),
    (b'{"a":' * 40 + b"1" + b"}" * 40, True),
    (b'"' + b"[" * 1000 + b'"', False),  # brackets in a string are text
    (b'["\\"[[[[' + b"[" * 100 + b'"]', False),  # an escaped quote does not end the string
    (b"[" * 100_000, True),  # unclosed: judged without parsing
    (b'{"set": {"A": "b"}}', False),
])
def test_json_nesting(body: bytes, deep: bool) -> None:
    assert json_too_deep(body) is deep


@pytest.mark.parametrize("text", ["99999999d", "9" * 400 + "s", "36501d"])
def test_durations_over_a_century_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="longer than 36500d"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
                                  "1969-12-31T23:59:59Z", "2263-01-01T00:00:00Z"])
def test_times_outside_what_nanoseconds_hold_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="outside 1970 to 2262"):
        parse_time(text, 1.8e9)


def test_ordinary_times_still_parse() -> None:
    assert parse_time("10m", 1000.0) == 400.0
    assert parse_time("2026-11-27T09:30:00Z", 0) == 1795771800.0
    assert parse_duration("36500d") == 36500 * 86400
