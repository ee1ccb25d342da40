"""`plat logs` and `GET .../logs` against a real platd with the fake runtime: bad input, the
errors people see, JSON output, paging, the drain before removal, and Ctrl-C on a follow."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PLAT, Daemon

TARGET = "acme/shop/hello/prod"
MANIFEST = """\
app = "hello"

[workloads.web]
image = "127.0.0.1:5000/busybox:latest"
count = 2
cpu = 0.1
memory = "32M"
min_ready = "1s"  # not a readiness test: the 10 s default would only slow it

[workloads.worker]
image = "127.0.0.1:5000/busybox:latest"
count = 1
cpu = 0.1
memory = "32M"
min_ready = "1s"  # not a readiness test: the 10 s default would only slow it
"""


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One fake-runtime platd with a deployed env: web x2 and worker x1."""
    tmp = tmp_path_factory.mktemp("logs-cli")
    daemon = Daemon(data=tmp / "data", config_dir=tmp / "config", runtime="fake")
    daemon.init()
    daemon.start()
    try:
        parts = TARGET.split("/")
        for depth, plural in enumerate(("orgs", "projects", "apps", "envs"), start=1):
            status, body = daemon.api("POST", f"/v1/tree/{plural}",
                                      {"path": "/".join(parts[:depth])})
            assert status in (200, 201), body
        assert daemon.plat("use", TARGET).code == 0
        status, body = daemon.api("POST", f"/v1/envs/{TARGET}/deploy", {"manifest": MANIFEST})
        assert status in (200, 201), body
        wait_lines(daemon, lambda ls: sum(1 for x in ls if x["source"] == "app") >= 3)
        yield daemon
    finally:
        daemon.stop()


def lines_of(r: Any) -> list[dict[str, Any]]:
    assert r.code == 0, r.err
    return [json.loads(x) for x in r.out.splitlines()]


def api_lines(d: Daemon, query: str = "") -> list[dict[str, Any]]:
    status, body = d.api("GET", f"/v1/envs/{TARGET}/logs?limit=1000&{query}")
    assert status == 200, body
    lines: list[dict[str, Any]] = body["lines"]
    return lines


def wait_lines(d: Daemon, ok: Any, query: str = "", timeout: float = 20) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        got = api_lines(d, query)
        if ok(got) or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def instances(d: Daemon) -> dict[str, str]:
    status, body = d.api("GET", f"/v1/envs/{TARGET}/status")
    assert status == 200, body
    return {i["id"]: w["name"] for w in body["workloads"] for i in w["instances"]}


def test_help_explains_the_format_times_and_follow() -> None:
    out = subprocess.run([PLAT, "logs", "--help"], capture_output=True, text=True).stdout
    for words in ("--follow", "--workload", "--instance", "--source", "--severity", "--since",
                  "--until", "--limit", "--json", "WORKLOAD/INSTANCE", "UTC", "Ctrl-C",
                  "nothing is shown twice"):
        assert words in out
    top = subprocess.run([PLAT, "--help"], capture_output=True, text=True).stdout
    assert "logs" in top


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--since", "yesterday"], "cannot read time 'yesterday'"),
        (["--until", "5x"], "cannot read time '5x'"),
        (["--since", "2026-13-45T00:00:00Z"], "cannot read time"),
        (["--since", "1m", "--until", "2h"], "is not before --until"),
        (["--severity", "loud"], "unknown severity 'loud'"),
        (["--limit", "0"], "--limit must be between 1"),
        (["--follow", "--until", "1m"], "--until cannot be used with --follow"),
    ],
)
def test_bad_input_is_refused_with_exit_2(args: list[str], words: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from tui.cli import main as cli

    # Checked before any daemon is asked: no daemon needed to see these refusals.
    assert cli.main(["logs", "--target", TARGET, *args]) == 2
    out, err = capsys.readouterr()
    assert words in err
    assert out == ""


def test_unknown_workload_or_instance_names_what_exists(d: Daemon) -> None:
    r = d.plat("logs", "--workload", "wbe")
    assert r.code == 4
    assert "no workload 'wbe'" in r.err
    assert "web, worker" in r.err
    existing = instances(d)
    r = d.plat("logs", "--json", "--instance", "zzzz")
    assert r.code == 4
    error = json.loads(r.err)["error"]
    assert error["code"] == "not_found"
    assert "no instance 'zzzz'" in error["message"]
    for instance in existing:
        assert instance in error["message"]
    assert sorted(error["details"]["existing"]) == sorted(existing)


def test_an_instance_prefix_is_enough(d: Daemon) -> None:
    instance, workload = next(iter(instances(d).items()))
    got = lines_of(d.plat("logs", "--json", "--instance", instance[:6]))
    assert got
    assert {x["instance"] for x in got} == {instance}
    assert {x["workload"] for x in got} == {workload}


def test_api_refuses_bad_parameters_with_422(d: Daemon) -> None:
    base = f"/v1/envs/{TARGET}/logs"
    for query, words in [("since=nonsense", "cannot read time"), ("before=12", "before cursor"),
                         ("limit=0", "limit must be"), ("source=both", "unknown source"),
                         ("severity=loud", "unknown severity"),
                         ("since=2h&until=3h", "not before")]:
        status, body = d.api("GET", f"{base}?{query}")
        assert status == 422, (query, body)
        assert words in body["error"]["message"], (query, body)
    status, body = d.api("GET", "/v1/envs/acme/shop/hello/nope/logs")
    assert status == 404
    assert "no env 'nope'" in body["error"]["message"]
    status, _ = d.api("GET", f"{base}", token="plat_wrong")
    assert status == 401


def test_json_lines_carry_every_field(d: Daemon) -> None:
    got = lines_of(d.plat("logs", "--json"))
    assert got
    assert set(got[0]) == {"seq", "at", "ts_ns", "source", "workload", "instance", "release",
                           "stream", "severity", "message", "partial"}
    assert [x["ts_ns"] for x in got] == sorted(x["ts_ns"] for x in got), "oldest first"
    assert {x["source"] for x in got} == {"app", "system"}


def test_history_longer_than_a_page_is_read_page_by_page(
    d: Daemon, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tui.cli import main as cli
    from tui.cli.commands import logs as logs_command

    for key, value in d.env().items():
        monkeypatch.setenv(key, value)
    everything = api_lines(d)
    monkeypatch.setattr(logs_command, "PAGE", 3)
    assert cli.main(["logs", "--json", "--limit", "10"]) == 0
    paged = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["seq"] for x in paged] == [x["seq"] for x in everything[-10:]]


def test_a_removed_instance_keeps_its_lines(d: Daemon) -> None:
    worker = next(i for i, w in instances(d).items() if w == "worker")
    assert d.plat("scale", "worker", "--count", "0").code == 0
    got = wait_lines(d, lambda ls: any("stopped and removed" in x["message"] for x in ls),
                     f"instance={worker}")
    assert worker not in instances(d)
    app = [x["message"] for x in got if x["source"] == "app"]
    assert app == [f"started plat-hello-prod-worker-{worker}"]
    system = [x["message"] for x in got if x["source"] == "system"]
    assert any("stopped and removed" in m for m in system)


def test_follow_stops_cleanly_on_ctrl_c(d: Daemon) -> None:
    proc = subprocess.Popen([PLAT, "logs", "--follow", "--limit", "1"], env=d.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.strip(), "the newest line is shown first"
        time.sleep(0.5)  # now waiting in a long poll
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=20)
        assert code == 130
        assert proc.stderr is not None
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_daemon_refuses_bad_retention_settings(tmp_path: Path) -> None:
    from platd.daemon import open_daemon
    from platd.datadir import DataDir
    from platd.secrets.crypto import create_key_file
    from platd.spec.errors import InvalidInput

    data = DataDir(tmp_path / "data")
    data.create()
    create_key_file(data.key_file)
    data.settings_file.write_text('logs_max_bytes = "lots"\n')
    with pytest.raises(InvalidInput) as info:  # what `platd serve` reports before it listens
        open_daemon(data.path, runtime="fake")
    assert "logs_max_bytes" in info.value.message
    data.settings_file.write_text('logs_max_age = "a week"\n')
    with pytest.raises(InvalidInput) as info:
        open_daemon(data.path, runtime="fake")
    assert "logs_max_age" in info.value.message
