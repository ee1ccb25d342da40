"""A full data disk does not take platd down (issue #19): a real ``platd serve`` on a 64 MiB
tmpfs, filled by another writer until not one byte is left.

Under a full disk reads answer, ``plat status`` says the disk is full, changes that add data
get a clear ``storage_full`` error (exit 12), scaling down and deletes work, platd survives
writes failing with SQLITE_FULL, starts again on a disk with nothing free, and nothing that was
stored is lost. The tests run in order, each on the state the previous one left.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from api_support import deploy, env_url, make_env, satisfy_gate, stop_daemon, wait_converged
from daemon_support import Daemon

from tests.disk.disk_support import fill, free_bytes, small_fs

SETTINGS = 'disk_min_free = "20M"\ndisk_reserve = "16M"\n'


@dataclass
class Host:
    d: Any
    fs: Path
    app: str  # the env that keeps running
    spare: str  # an env that is deleted under a full disk
    before: dict[str, Any]


def _stored(d: Any, target: str) -> dict[str, Any]:
    """What must survive: config, secret bundles (names, keys, versions), releases."""
    out = {}
    for key, rest in (("config", "/config"), ("secrets", "/secrets"), ("releases", "/releases")):
        status, body = d.api("GET", env_url(target, rest))
        assert status == 200, (key, body)
        out[key] = body
    for release in out["releases"]["releases"]:
        release.pop("status", None)  # progress, not what was stored
        release.pop("current", None)
    return out


def _instances(d: Any, target: str) -> list[dict[str, Any]]:
    status, body = d.api("GET", env_url(target, "/status"))
    assert status == 200, body
    return [i for w in body["workloads"] for i in w["instances"] if i["state"] == "running"]


def _until(check: Any, what: str, d: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {d.log()[-3000:]}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    root = tmp_path_factory.mktemp("full-disk")
    with small_fs(root / "fs") as fs:
        d = Daemon(data=fs / "data", config_dir=root / "config")
        try:
            d.init()
            (d.data / "platd.toml").write_text(SETTINGS)
            d.start()
            app, spare = make_env(d), make_env(d)
            satisfy_gate(d, app)
            status, body = deploy(d, app)
            assert status == 201, body
            wait_converged(d, app)
            satisfy_gate(d, spare)
            before = _stored(d, app)
            # platd looks at the disk at most once a second, and sets its ballast aside then.
            _until(lambda: d.api("GET", env_url(app, "/status"))[1]
                   and (d.data / "ballast").exists(),
                   "platd to set a ballast aside while there is room", d, timeout=10)
            fill(fs / "filler")
            # platd looks at the disk at most once a second: wait until it has seen this.
            _until(lambda: d.api("GET", env_url(app, "/status"))[1]["disk"]["full"],
                   "platd to see the disk full", d, timeout=10)
            yield Host(d, fs, app, spare, before)
        finally:
            stop_daemon(d)


def test_status_says_the_host_disk_is_full(host: Host) -> None:
    r = host.d.plat("status", "--target", host.app)
    assert r.code == 0, r.err
    assert "data disk FULL" in r.out, r.out
    assert "free of 64M at " + str(host.d.data) in r.out
    disk = json.loads(host.d.plat("status", "--target", host.app, "--json").out)["disk"]
    assert disk["full"] is True
    assert disk["free_bytes"] < 20 * 1024 * 1024


def test_reads_answer_and_nothing_is_lost(host: Host) -> None:
    assert _stored(host.d, host.app) == host.before
    for rest in ("/events", "/logs", "/status"):
        status, body = host.d.api("GET", env_url(host.app, rest))
        assert status == 200, (rest, body)


def test_a_change_that_adds_data_is_refused_with_a_clear_error(host: Host) -> None:
    r = host.d.plat("config", "set", "NEW=value", "--target", host.app)
    assert r.code == 12, (r.code, r.out, r.err)
    assert "data disk is full" in r.err
    assert "Traceback" not in r.err + r.out
    status, body = deploy(host.d, host.app)
    assert (status, body["error"]["code"]) == (507, "storage_full"), body
    status, body = host.d.api("POST", "/v1/tree/orgs", {"path": "another"})
    assert (status, body["error"]["code"]) == (507, "storage_full"), body
    assert _stored(host.d, host.app) == host.before


def test_scaling_down_works_and_the_reconciler_acts_on_it(host: Host) -> None:
    assert len(_instances(host.d, host.app)) == 2
    r = host.d.plat("scale", "web", "--count", "1", "--target", host.app)
    assert r.code == 0, r.err
    _until(lambda: len(_instances(host.d, host.app)) == 1, "the scale-down", host.d)


def test_deletes_work(host: Host) -> None:
    d, spare = host.d, host.spare
    assert d.plat("config", "unset", "GREETING", "--target", spare).code == 0
    assert d.plat("secrets", "delete", "db", "--target", spare).code == 0
    r = d.plat("envs", "delete", spare, "--yes")
    assert r.code == 0, r.err
    status, _ = d.api("GET", env_url(spare, "/config"))
    assert status == 404


def test_platd_survives_writes_failing_on_a_disk_with_nothing_left(host: Host) -> None:
    d = host.d
    fill(host.fs / "filler-2")  # the ballast platd gave back is taken too
    assert free_bytes(host.fs) < 64 * 1024
    status, body = d.api("POST", env_url(host.app, "/scale"), {"workload": "web", "count": 2})
    assert (status, body["error"]["code"]) == (507, "storage_full"), body
    assert "disk is full" in body["error"]["message"]
    time.sleep(3)  # reconcile passes (every 5 s at most) and the log writer run meanwhile
    assert d.proc.poll() is None, d.log()[-2000:]
    assert d.api("GET", "/v1/health", token="")[0] == 200
    assert _stored(d, host.app) == host.before
    # Room again: the same change goes through and the (still running) reconciler acts on it.
    (host.fs / "filler-2").unlink()
    status, body = d.api("POST", env_url(host.app, "/scale"), {"workload": "web", "count": 2})
    assert status == 201, body
    _until(lambda: len(_instances(d, host.app)) == 2, "the scale-up after space came back", d)


def test_platd_starts_on_a_full_disk_and_nothing_is_lost(host: Host) -> None:
    d = host.d
    d.stop()
    fill(host.fs / "filler-3")
    assert free_bytes(host.fs) < 64 * 1024
    d.start()
    assert _stored(d, host.app) == host.before
    assert "data disk FULL" in d.plat("status", "--target", host.app).out
    _until(lambda: len(_instances(d, host.app)) == 2, "the instances to run again", d)
    assert "Traceback" not in d.log()
    # Once the operator frees space, changes are accepted again.
    for name in ("filler", "filler-3"):
        (host.fs / name).unlink()
    _until(lambda: d.plat("config", "set", "AFTER=1", "--target", host.app).code == 0,
           "a change after space was freed", d, timeout=10)
    assert "data disk FULL" not in d.plat("status", "--target", host.app).out
