"""Following across a platd restart: `plat events -f`, `plat deploy` and `plat wait` reconnect
and go on from their cursor; when platd never comes back they give up within the bound.

Each test has a platd of its own (fake runtime, so rollouts take milliseconds), which it kills
or stops and starts again while a `plat` subprocess follows.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import MANIFEST, make_env, satisfy_gate
from daemon_support import Background as Running

from platd.server import secrets_root

# Two instances of 5G on the fake runtime's 8G host: one runs, the other waits for memory, so
# the rollout stays in progress until `plat scale web --count 1`.
PENDING = """\
app = "hello"

[workloads.web]
image = "127.0.0.1:5000/hello:v1"
count = 2
cpu = 0.25
memory = "5G"
min_ready = "1s"
"""


@pytest.fixture
def running() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for r in started:
        r.kill()


@pytest.fixture
def d(daemon: Any) -> Iterator[Any]:
    """A platd of this test's own (fake runtime): the tests stop it, and their pending
    rollouts fill the fake host's memory. Killed at the end, which is quickest."""
    yield daemon
    daemon.kill9()
    shutil.rmtree(secrets_root(daemon.host_id), ignore_errors=True)


@pytest.fixture
def target(d: Any) -> str:
    return make_env(d)


def wait_for(check: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def restart(d: Any, *, graceful: bool = False, down_for: float = 1.0) -> None:
    """Kill platd (or SIGTERM it: it then answers the requests in flight, long polls at once)
    and start it again after ``down_for`` seconds, long enough for a follower to retry."""
    d.stop() if graceful else d.kill9()
    time.sleep(down_for)
    d.start()


def settled_events(d: Any, target: str) -> list[dict[str, Any]]:
    """`plat events --json` once the env is quiet (the same answer twice, a second apart)."""
    before: list[dict[str, Any]] = []
    while True:
        r = d.plat("events", "--json", "--limit", "5000", "--target", target)
        assert r.code == 0, r.err
        now = [json.loads(x) for x in r.out.splitlines()]
        if now == before:
            return now
        before = now
        time.sleep(1)


def pending_release(d: Any, tmp_path: Path, target: str) -> None:
    manifest = tmp_path / "plat.toml"
    manifest.write_text(PENDING)
    r = d.plat("deploy", "-f", str(manifest), "--detach", "--target", target)
    assert r.code == 0, r.err


def test_events_follow_goes_on_across_a_restart_without_gaps_or_repeats(
    d: Any, running: list[Running], target: str
) -> None:
    satisfy_gate(d, target)
    assert d.plat("deploy", "-f", str(MANIFEST), "--target", target).code == 0
    follower = Running(d, "events", "-f", "--json", "--limit", "5000", "--target", target)
    running.append(follower)
    wait_for(lambda: any('"rollout"' in x for x in follower.lines))
    assert d.plat("scale", "web", "--count", "3", "--target", target).code == 0
    wait_for(lambda: any("scaled web" in x for x in follower.lines))
    # Down for a while: as it starts, platd records events (it recreates the fake runtime's
    # instances, gone with the old process), likely before the follower's next try.
    down = time.time()
    restart(d, graceful=True)
    assert d.plat("scale", "web", "--count", "1", "--target", target).code == 0
    stored = settled_events(d, target)
    # Recorded after the old process went: while it started (the fake runtime's instances are
    # recreated) or as it came back; the follower was reconnecting meanwhile.
    assert any(down < e["at"] and e["step"] != "scale" for e in stored), \
        "events recorded as it restarted"
    last = stored[-1]["seq"]
    wait_for(lambda: any(f'"seq": {last},' in x for x in follower.lines))
    time.sleep(0.3)  # anything after the last stored event would be a repeat
    code, err = follower.interrupt()
    assert settled_events(d, target) == stored, "nothing happened meanwhile"
    assert code == 130, err
    shown = [json.loads(x) for x in follower.lines]
    assert [e["seq"] for e in shown] == [e["seq"] for e in stored], "no gap, no repeat"
    assert shown == stored
    assert "reconnecting" in err
    assert "reconnected; going on from the last event shown" in err
    assert "Traceback" not in err


def test_deploy_follows_its_rollout_across_a_restart_to_the_verdict(
    d: Any, running: list[Running], tmp_path: Path, target: str
) -> None:
    manifest = tmp_path / "plat.toml"
    manifest.write_text(PENDING)
    deploy = Running(d, "deploy", "-f", str(manifest), "--target", target, "--timeout", "120")
    running.append(deploy)
    wait_for(lambda: any("wait for memory" in x for x in deploy.lines))
    restart(d)
    r = d.plat("scale", "web", "--count", "1", "--target", target)
    assert r.code == 0, r.err
    code, err = deploy.finish()
    assert code == 0, err
    assert deploy.lines[-1] == "release v1 converged: every instance is running and healthy"
    events = [x for x in deploy.lines if x[:4].isdigit()]  # the event lines, after the receipt
    assert len(events) == len(set(events)), "no event shown twice"
    assert any("scaled web" in x for x in events), "events after the restart are shown"
    assert "reconnecting" in err
    assert "reconnected; going on from the last event shown" in err
    assert "Traceback" not in err
    status = d.api("GET", f"/v1/envs/{target}/releases")[1]["releases"][0]["status"]
    assert status == "converged"


def test_wait_follows_across_a_restart_to_the_verdict(
    d: Any, running: list[Running], tmp_path: Path, target: str
) -> None:
    pending_release(d, tmp_path, target)
    waiter = Running(d, "wait", "--target", target, "--timeout", "120")
    running.append(waiter)
    wait_for(lambda: any("wait for memory" in x for x in waiter.lines))
    restart(d)
    assert d.plat("scale", "web", "--count", "1", "--target", target).code == 0
    code, err = waiter.finish()
    assert code == 0, err
    assert waiter.lines[-1] == "release v1 converged: every instance is running and healthy"
    assert "reconnected" in err


@pytest.mark.parametrize("args", [
    ["events", "-f"],
    ["logs", "-f"],
    ["wait", "--timeout", "120"],
], ids=["events", "logs", "wait"])
def test_a_daemon_that_never_comes_back_ends_the_follow_with_exit_10_within_the_bound(
    d: Any, running: list[Running], tmp_path: Path, target: str, args: list[str]
) -> None:
    pending_release(d, tmp_path, target)
    follower = Running(d, *args, "--target", target, PLAT_RECONNECT_TIMEOUT="2")
    running.append(follower)
    wait_for(lambda: follower.lines)
    time.sleep(0.3)  # into its long poll
    lost = time.monotonic()
    d.kill9()
    code, err = follower.finish(timeout=30)
    took = time.monotonic() - lost
    assert code == 10, err
    assert 2 <= took < 8, took
    lines = err.splitlines()
    assert lines[0].startswith("plat: cannot reach platd at "), err
    assert lines[0].endswith("; reconnecting (Ctrl-C to stop)"), err
    assert lines[1].startswith("error: cannot reach platd at "), err
    assert lines[1].endswith("; gave up after 2s of trying to reconnect"), err
    assert "  is the daemon running? start it with: platd serve" in lines
    assert "  to wait longer next time, set PLAT_RECONNECT_TIMEOUT (seconds)" in lines
    if args[0] == "wait":
        assert any(x.startswith("  platd goes on with the rollout while it runs; follow it "
                                "again with: plat wait ") for x in lines), err
    assert "reconnected" not in err
    assert "Traceback" not in err


def test_wait_still_times_out_at_its_deadline_while_reconnecting(
    d: Any, running: list[Running], tmp_path: Path, target: str
) -> None:
    pending_release(d, tmp_path, target)
    started = time.monotonic()
    waiter = Running(d, "wait", "--target", target, "--timeout", "3")
    running.append(waiter)
    wait_for(lambda: waiter.lines)
    d.kill9()
    code, err = waiter.finish(timeout=30)
    took = time.monotonic() - started
    assert code == 9, err
    assert took < 6, took
    assert "did not converge within 3s; at the end platd could not be reached" in err
    assert "plat wait " in err
    assert "Traceback" not in err



def test_a_stop_does_not_wait_for_the_followers_long_polls(
        d: Any, target: str, running: list[Running]) -> None:
    """SIGTERM (systemctl stop/restart) answers the long polls in flight at once instead of
    waiting for their minute; the followers then reconnect to the next platd."""
    satisfy_gate(d, target)
    assert d.plat("deploy", "-f", str(MANIFEST), "--target", target).code == 0
    running.append(Running(d, "events", "-f", "--target", target))
    running.append(Running(d, "logs", "-f", "--target", target))
    events, logs = running
    wait_for(lambda: events.lines and logs.lines)
    time.sleep(1.0)  # both are now inside a long poll (each waits up to 60 s for news)

    started = time.monotonic()
    d.stop()
    took = time.monotonic() - started
    assert took < 10, f"platd took {took:.1f} s to stop with two followers connected"

    d.start()
    assert d.plat("scale", "web", "--count", "1", "--target", target).code == 0
    wait_for(lambda: any("scaled web" in line for line in events.lines))
