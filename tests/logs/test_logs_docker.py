"""`plat logs` end to end: the real plat program, a real platd, the Docker engine, the registry.

Covers what the issue asks to be shown: the lines of a crash-looping instance after it is gone,
each filter narrowing, app and system lines in one time order, awkward output stored safely and
shown escaped, a follow surviving a daemon kill without gaps or duplicates, and retention
removing the oldest lines first.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from platd.spec.timeparse import parse_time
from tests.conftest import Daemon, _remove_containers
from tests.daemon_support import Background
from tests.integration.helpers import wait_for

pytestmark = [pytest.mark.docker, pytest.mark.slow]

BUSYBOX = "127.0.0.1:5000/busybox:latest"
LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (app   |system) (\S+) +"
                  r"(debug|info |warn |error|fatal) (.*)$")


def manifest(tmp: Path, name: str, workloads: dict[str, str]) -> Path:
    text = 'app = "hello"\n'
    for workload, script in workloads.items():
        text += (f"\n[workloads.{workload}]\nimage = \"{BUSYBOX}\"\n"
                 f"command = {json.dumps(['sh', '-c', script])}\n"
                 "count = 1\ncpu = 0.1\nmemory = \"32M\"\nmin_ready = \"1s\"\n")
    path = tmp / name
    path.write_text(text)
    return path


def deploy(d: Daemon, target: str, path: Path) -> None:
    """Create the env and deploy (through the API: the CLI is not what these tests are about)."""
    parts = target.split("/")
    for depth, plural in enumerate(("orgs", "projects", "apps", "envs"), start=1):
        status, body = d.api("POST", f"/v1/tree/{plural}", {"path": "/".join(parts[:depth])})
        assert status in (200, 201, 409), body
    status, body = d.api("POST", f"/v1/envs/{target}/deploy", {"manifest": path.read_text()})
    assert status in (200, 201), body


def scale(d: Daemon, target: str, workload: str, count: int) -> None:
    status, body = d.api("POST", f"/v1/envs/{target}/scale", {"workload": workload,
                                                             "count": count})
    assert status in (200, 201), body


def logs(d: Daemon, target: str, *args: str) -> list[dict[str, Any]]:
    """What `plat logs --json ARGS` prints, asked of the API directly (no process to start)."""
    query = {"limit": "10000"}
    flags = dict(zip(args[::2], args[1::2], strict=True))
    for flag, value in flags.items():
        key = flag.lstrip("-")
        query[key] = str(parse_time(value, time.time())) if key in ("since", "until") else value
    status, body = d.api("GET", f"/v1/envs/{target}/logs?{urlencode(query)}")
    assert status == 200, body
    lines: list[dict[str, Any]] = body["lines"]
    return lines


def settled(d: Daemon, target: str) -> None:
    """Wait until the env's lines stop changing (the platform's last records are in)."""
    last: list[int] = []

    def same() -> bool:
        nonlocal last
        now = [x["seq"] for x in logs(d, target)]
        done = now == last
        last = now
        return done

    wait_for(same, timeout=30, every=1.0)


def containers_of(d: Daemon, workload: str) -> list[str]:
    return subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=dev.plat.host={d.host_id}",
         "--filter", f"label=dev.plat.workload={workload}"],
        capture_output=True, text=True, check=True,
    ).stdout.split()


def start_daemon(tmp: Path, settings: str = "") -> Daemon:
    d = Daemon(data=tmp / "data", config_dir=tmp / "config", runtime="docker")
    d.init()
    if settings:
        (d.data / "platd.toml").write_text(settings)
    d.start()
    return d


def stop_daemon(d: Daemon) -> None:
    try:
        d.stop()
    finally:
        _remove_containers(d.host_id)


@pytest.fixture(scope="module")
def dd(tmp_path_factory: pytest.TempPathFactory, docker_services: None) -> Iterator[Daemon]:
    """One Docker platd shared by the tests that only read (each uses an env of its own)."""
    d = start_daemon(tmp_path_factory.mktemp("logs-docker"))
    try:
        yield d
    finally:
        stop_daemon(d)


# --- a crash-looping instance, filters, time order ----------------------------------------------

CRASH = "echo boot $PLAT_INSTANCE; echo 'WARN about to fail' >&2; echo last words; exit 3"
# sh as PID 1 ignores SIGTERM unless told otherwise; without the trap every stop waits 10 s.
TICK = "trap 'exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.3; done"


def test_crash_looping_instance_keeps_its_lines_and_filters_narrow(
    dd: Daemon, tmp_path: Path
) -> None:
    target = "acme/shop/hello/crash"
    deploy(dd, target, manifest(tmp_path, "crash.toml", {"crash": CRASH, "web": TICK}))
    boots = wait_for(lambda: [x for x in logs(dd, target, "--workload", "crash", "--source", "app")
                              if x["message"].startswith("boot ")][1:], timeout=90)
    crashed = boots[0]["instance"]
    for workload in ("crash", "web"):  # both go: what is left is history, and it holds still
        scale(dd, target, workload, 0)
        wait_for(lambda w=workload: not containers_of(dd, w), timeout=60)
    wait_for(lambda: sum("stopped and removed" in x["message"] for x in logs(dd, target)) == 2,
             timeout=30)
    settled(dd, target)

    # The instance is gone, its lines are not: every run, each up to its last words.
    mine = logs(dd, target, "--instance", crashed)
    app = [x["message"] for x in mine if x["source"] == "app"]
    runs = app.count(f"boot {crashed}")
    assert runs >= 2
    assert app.count("last words") == runs, "the last line before each crash is kept"
    assert app.count("WARN about to fail") == runs
    system = [x for x in mine if x["source"] == "system"]
    crashes = [x for x in system if x["message"].startswith("crash:")]
    assert crashes
    assert all(x["severity"] == "error" for x in crashes)

    # One stream in time order, app and system lines interleaved.
    everything = logs(dd, target)
    times = [x["ts_ns"] for x in everything]
    assert times == sorted(times)
    sources = [x["source"] for x in everything]
    assert any(a == "app" and b == "system" and c == "app"
               for a, b, c in zip(sources, sources[1:], sources[2:], strict=False))
    for crash in crashes:
        before = [x for x in everything if x["ts_ns"] <= crash["ts_ns"]]
        assert any(x["message"] == "last words" for x in before)
    # ... and the same order in the human format, whose fields are stable.
    r = dd.plat("logs", "--limit", "5000", "--target", target)
    # A message of several lines (a release marked degraded says the crashed instance's last
    # lines, when the crash loop is seen before the scale-down) goes on indented lines.
    records = [line for line in r.out.splitlines() if not line.startswith("    ")]
    parsed = [LINE.match(line) for line in records]
    assert all(parsed), [line for line, m in zip(records, parsed, strict=True) if not m]
    stamps = [m.group(1) for m in parsed if m]
    assert stamps == sorted(stamps)
    assert len(stamps) == len(everything)

    # Each filter narrows to exactly the lines it names (one through the CLI, the rest through
    # the API the CLI passes them to).
    seqs = {x["seq"] for x in everything}
    r = dd.plat("logs", "--json", "--workload", "web", "--source", "app", "--target", target)
    assert r.code == 0
    cli = [json.loads(x) for x in r.out.splitlines()]
    assert cli
    assert {(x["workload"], x["source"]) for x in cli} == {("web", "app")}

    def narrowed(args: list[str], keep: Any) -> list[dict[str, Any]]:
        got = logs(dd, target, *args)
        assert got, args
        assert {x["seq"] for x in got} == {x["seq"] for x in everything if keep(x)}, args
        assert {x["seq"] for x in got} < seqs, args
        return got

    narrowed(["--workload", "web"], lambda x: x["workload"] == "web")
    narrowed(["--instance", crashed], lambda x: x["instance"] == crashed)
    narrowed(["--instance", crashed[:5]], lambda x: x["instance"] == crashed)
    narrowed(["--source", "system"], lambda x: x["source"] == "system")
    narrowed(["--source", "app"], lambda x: x["source"] == "app")
    warned = narrowed(["--severity", "warn"], lambda x: x["severity"] in ("warn", "error", "fatal"))
    assert "WARN about to fail" in {x["message"] for x in warned}
    narrowed(["--severity", "error", "--workload", "crash"],
             lambda x: x["severity"] in ("error", "fatal") and x["workload"] == "crash")
    narrowed(["--workload", "crash", "--source", "app"],
             lambda x: x["workload"] == "crash" and x["source"] == "app")

    def boundary(k: int) -> float:
        """A moment in a gap between two lines near position k (so rounding cannot matter)."""
        while everything[k + 1]["at"] - everything[k]["at"] < 0.002:
            k += 1
        return float(everything[k]["at"] + everything[k + 1]["at"]) / 2

    low, high = boundary(len(everything) // 3), boundary(2 * len(everything) // 3)
    since, until = (datetime.fromtimestamp(t, UTC).isoformat() for t in (low, high))
    narrowed(["--since", since, "--until", until], lambda x: low <= x["at"] < high)
    narrowed(["--limit", "3"], lambda x: x["seq"] in {y["seq"] for y in everything[-3:]})
    assert len(logs(dd, target, "--limit", "3")) == 3

    # Asking for something that does not exist names what does, the gone instance included.
    r = dd.plat("logs", "--instance", "nosuch", "--target", target)
    assert r.code == 4
    assert crashed in r.err
    r = dd.plat("logs", "--workload", "cra", "--target", target)
    assert r.code == 4
    assert "crash, web" in r.err


# --- awkward output -------------------------------------------------------------------------------

ODD = ("head -c 200000 /dev/zero | tr '\\0' x; echo; printf 'bad \\377\\376 bytes\\n'; "
       "printf '\\033[31mred\\033[0m\\n'; printf 'nul\\000inside\\n'; printf 'cr\\rreturn\\n'; "
       "echo '{\"level\":\"error\",\"msg\":\"json says error\"}'; echo done; sleep 100000")


def test_huge_binary_and_control_output_is_stored_safely_and_shown_escaped(
    dd: Daemon, tmp_path: Path
) -> None:
    target = "acme/shop/hello/odd"
    deploy(dd, target, manifest(tmp_path, "odd.toml", {"odd": ODD}))
    got = wait_for(lambda: (lambda ls: ls if any(x["message"] == "done" for x in ls) else None)(
        logs(dd, target, "--source", "app")), timeout=90)
    messages = [x["message"] for x in got]
    pieces = [x for x in got if set(x["message"]) == {"x"}]
    assert "".join(x["message"] for x in pieces) == "x" * 200_000, "the huge line, all of it"
    assert [x["partial"] for x in pieces] == [True] * (len(pieces) - 1) + [False]
    assert "bad \ufffd\ufffd bytes" in messages  # the engine's json-file keeps text, not bytes
    assert "\x1b[31mred\x1b[0m" in messages
    assert "nul\x00inside" in messages
    assert next(x for x in got if "json says error" in x["message"])["severity"] == "error"

    r = dd.plat("logs", "--source", "app", "--limit", "100", "--target", target)
    assert r.code == 0
    assert "\x1b" not in r.out
    assert "\x00" not in r.out
    assert "\r" not in r.out
    assert "\\x1b[31mred\\x1b[0m" in r.out
    assert "nul\\x00inside" in r.out
    assert "cr\\x0dreturn" in r.out
    assert " [continues]" in r.out


# --- follow across a daemon kill ----------------------------------------------------------------

COUNTER = "i=0; while true; do echo n=$i; i=$((i+1)); usleep 20000; done"


class Follower(Background):
    """`plat logs --follow` running in the background, its lines collected as they come."""

    def __init__(self, d: Daemon, *args: str) -> None:
        super().__init__(d, "logs", "--follow", *args)

    def numbers(self) -> list[int]:
        return [int(m.group(1)) for line in list(self.lines)
                if (m := re.search(r" n=(\d+)$", line))]

    def stop(self) -> tuple[int, str]:
        return self.interrupt()


def test_follow_survives_a_daemon_kill_without_gaps_or_duplicates(
    dd: Daemon, tmp_path: Path
) -> None:
    d = dd  # killed and started again: the module's other tests do not mind
    follower = None
    try:
        target = "acme/shop/hello/follow"
        deploy(d, target, manifest(tmp_path, "counter.toml", {"counter": COUNTER}))
        follower = Follower(d, "--workload", "counter", "--source", "app", "--limit", "1",
                            "--target", target)
        wait_for(lambda: len(follower.numbers()) >= 20, timeout=90)
        d.kill9()  # no goodbye: whatever was queued in memory is lost and must be read again
        time.sleep(1.5)  # the container goes on writing meanwhile
        d.start()
        before = max(follower.numbers())
        wait_for(lambda: max(follower.numbers()) > before + 100, timeout=90)
        code, err = follower.stop()
        assert code == 130
        assert "reconnecting" in err
        assert "reconnected" in err
        assert "Traceback" not in err
        seen = follower.numbers()
        assert seen == list(range(seen[0], seen[0] + len(seen))), "no gap, no duplicate"
        stored = [int(x["message"][2:]) for x in logs(d, target, "--workload", "counter",
                                                        "--source", "app")]
        assert stored == list(range(stored[0], stored[0] + len(stored)))
    finally:
        if follower is not None and follower.proc.poll() is None:
            follower.proc.kill()
        if d.proc is None:
            d.start()


# --- retention ------------------------------------------------------------------------------------

FLOOD = ("awk 'BEGIN { for (i = 0; i < 15000; i++) printf \"n=%d %s\\n\", i, "
         "\"padding-padding-padding-padding-padding-padding-padding-padding\" }'; "
         "sleep 100000")


def test_retention_removes_the_oldest_lines_first(docker_services: None, tmp_path: Path) -> None:
    limit = 1024 * 1024
    d = start_daemon(tmp_path, 'logs_max_bytes = "1M"\nlogs_max_age = "7d"\n')
    try:
        target = "acme/shop/hello/prod"
        deploy(d, target, manifest(tmp_path, "flood.toml", {"flood": FLOOD}))

        def used() -> int:
            conn = sqlite3.connect(f"file:{d.data / 'logs.db'}?mode=ro", uri=True)
            try:
                from platd.logs.retention import used_bytes

                return used_bytes(conn)
            finally:
                conn.close()

        def trimmed() -> list[int] | None:
            got = [int(x["message"].split()[0][2:])
                   for x in logs(d, target, "--source", "app", "--limit", "10000")]
            done = got and got[-1] == 14_999 and got[0] > 0 and used() <= limit
            return got if done else None

        numbers = wait_for(trimmed, timeout=120, every=0.5)
        assert numbers == list(range(numbers[0], 15_000)), "the newest kept, the oldest gone"
        system = [x["message"] for x in logs(d, target, "--source", "system")]
        assert not any(m.startswith("deploy:") for m in system), "older system lines went too"
    finally:
        stop_daemon(d)


# --- the logs API reader, on the real engine ------------------------------------------------------


def test_the_api_reader_follows_restarts_and_resumes_without_repeats(
    docker_services: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where platd cannot read the engine's log file (rootless, remote engine) it reads the logs
    API instead; forced here by making the file look unreadable."""
    import asyncio
    import os

    from platd.runtime.docker import DockerRuntime

    access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: (
        False if str(path).endswith("-json.log") else access(path, mode, **kw)))
    cid = subprocess.run(
        ["docker", "run", "-d", "--label", "plat-logs-test=1", BUSYBOX, "sh", "-c",
         "echo run; echo oops >&2; head -c 40000 /dev/zero | tr '\\0' y; echo; echo end"],
        capture_output=True, text=True, check=True).stdout.strip()
    try:
        subprocess.run(["docker", "wait", cid], capture_output=True, check=True)

        async def read(cursor: str | None) -> tuple[list[tuple[int, int, str, bool]], str | None]:
            runtime = DockerRuntime()
            stop = asyncio.Event()
            stop.set()  # the container has stopped: read what it wrote, then end
            lines: list[tuple[int, int, str, bool]] = []
            try:
                async for batch in runtime.follow_logs(cid, cursor, stop):
                    lines += batch.lines
                    cursor = batch.cursor
            finally:
                await runtime.close()
            return lines, cursor

        first, cursor = asyncio.run(read(None))
        assert cursor is not None
        assert cursor.startswith("api:")
        assert sorted(t for _, _, t, _ in first) == sorted(["run", "oops", "y" * 40000, "end"])
        assert {s for _, s, t, _ in first if t == "oops"} == {2}
        subprocess.run(["docker", "start", cid], capture_output=True, check=True)
        subprocess.run(["docker", "wait", cid], capture_output=True, check=True)
        again, _ = asyncio.run(read(cursor))
        assert sorted(t for _, _, t, _ in again) == sorted(["run", "oops", "y" * 40000, "end"]), \
            "only the second run's lines, none of the first"
    finally:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True)
