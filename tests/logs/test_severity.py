"""The level read from a line: a table of the shapes programs print, and the stream hint."""

from __future__ import annotations

import pytest

from platd.logs.severity import DEBUG, ERROR, FATAL, INFO, WARN, detect, level_name, parse_level

OUT, ERR = 1, 2

CASES = [
    # JSON objects, with the level under the usual keys, as words or as pino/bunyan numbers
    ('{"level":"error","msg":"db down"}', OUT, ERROR),
    ('{"level":"WARNING","msg":"slow"}', ERR, WARN),
    ('{"severity":"debug"}', OUT, DEBUG),
    ('{"lvl":"info","x":1}', ERR, INFO),
    ('{"levelname":"CRITICAL"}', OUT, FATAL),
    ('{"log.level":"warn"}', OUT, WARN),
    ('{"log":{"level":"error"}}', OUT, ERROR),
    ('{"level":50,"msg":"pino error"}', OUT, ERROR),
    ('{"level":30}', ERR, INFO),
    ('{"level":60}', OUT, FATAL),
    ('{"msg":"no level here"}', ERR, INFO),
    ('{"level": true}', OUT, INFO),
    ("{not json", OUT, INFO),
    # logfmt
    ("time=2024-01-01T00:00:00Z level=error msg=boom", OUT, ERROR),
    ('ts=1 lvl="warn" msg=x', OUT, WARN),
    # prefixes
    ("ERROR something broke", OUT, ERROR),
    ("[ERROR] something broke", OUT, ERROR),
    ("error: cannot open file", OUT, ERROR),
    ("Error: connection refused", ERR, ERROR),
    ("Warning: deprecated flag", OUT, WARN),
    ("WARN disk at 91%", OUT, WARN),
    ("INFO listening on :8080", ERR, INFO),
    ("DEBUG cache miss", OUT, DEBUG),
    ("TRACE entering", OUT, DEBUG),
    ("FATAL out of file descriptors", OUT, FATAL),
    ("CRITICAL: disk gone", OUT, FATAL),
    ("ERROR:root:python logging default format", ERR, ERROR),
    ("INFO:uvicorn:started", ERR, INFO),
    ("2024-01-01 12:00:00,123 WARNING [app] retrying", OUT, WARN),
    ("2024-01-01T12:00:00.000Z  INFO 1234 --- [main] o.s.Application : Started", OUT, INFO),
    ("2024/01/01 12:00:00 [error] 7#7: *1 connect() failed", ERR, ERROR),
    ("[Wed Oct 11 14:32:52 2000] [warn] [client 127.0.0.1] odd", OUT, WARN),
    ("[2024-01-01T12:00:00Z ERROR my_crate] failed", OUT, ERROR),
    ("E1127 10:04:50.123456   1 controller.go:12] sync failed", ERR, ERROR),
    ("W1127 10:04:50.123456   1 controller.go:12] slow", ERR, WARN),
    ("I1127 10:04:50.123456   1 controller.go:12] synced", ERR, INFO),
    ("<3>disk failure", OUT, ERROR),
    ("<6>hello", ERR, INFO),
    ("<7>details", OUT, DEBUG),
    # crashes without a level word
    ("Traceback (most recent call last):", ERR, ERROR),
    ("ValueError: invalid literal for int()", ERR, ERROR),
    ("panic: runtime error: index out of range", ERR, FATAL),
    ("java.lang.IllegalStateException: bad state", ERR, ERROR),
    # no level: info, on either stream (stderr is where most servers chat, not where they warn)
    ("GET / 200 12ms", OUT, INFO),
    ("GET / 200 12ms", ERR, INFO),
    ("plain chatter", 0, INFO),
    ("", ERR, INFO),
    ('127.0.0.1 - - [02/Dec/2026 06:00:00] "GET /healthz HTTP/1.0" 200 -', ERR, INFO),
    # platd's own health probes are not the app's business, whatever they say
    ('10.0.0.1 - - [02/Dec/2026:06:00:00 +0000] "GET /healthz HTTP/1.0" 200 2 "-" '
     '"platd-health"', ERR, DEBUG),
    ('[warn] slow answer to "GET /healthz" from platd-health', ERR, DEBUG),
    # words that only look like levels
    ("Errors were found in 0 files", OUT, INFO),
    ("information desk opens at 9", OUT, INFO),
    ("the info endpoint answered", OUT, INFO),
    ("debugging session closed", OUT, INFO),
    ("terror in the night", OUT, INFO),
]


@pytest.mark.parametrize(("line", "stream", "level"), CASES)
def test_detect(line: str, stream: int, level: int) -> None:
    assert level_name(detect(line, stream)) == level_name(level)


def test_only_the_start_of_a_long_line_is_read() -> None:
    assert detect("x" * 200 + " ERROR", 1) == INFO


@pytest.mark.parametrize(
    ("text", "level"),
    [("warn", WARN), ("WARNING", WARN), (" Err ", ERROR), ("fatal", FATAL), ("critical", FATAL),
     ("debug", DEBUG), ("trace", DEBUG), ("notice", INFO), ("loud", None), ("", None)],
)
def test_parse_level(text: str, level: int | None) -> None:
    assert parse_level(text) == level


def test_level_names() -> None:
    assert [level_name(v) for v in (DEBUG, INFO, WARN, ERROR, FATAL)] == [
        "debug", "info", "warn", "error", "fatal"]
