"""The reserve volumes and snapshots cannot take, and a reconciler that keeps going while its
writes fail with SQLITE_FULL (issue #19). Daemons in this process, on real SQLite files on a
small tmpfs (and, for the reserve, real loop-device volumes on it)."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from api_support import deploy, env_url, make_env, satisfy_gate, wait_converged
from daemon_support import local_daemon, start_daemon, stop_daemon
from volume_support import cleanup_volumes

from tests.disk.disk_support import fill, free_bytes, small_fs

MIB = 1024 * 1024


def _until(check: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


def test_volumes_and_snapshots_leave_the_reserve_free(tmp_path: Path) -> None:
    with small_fs(tmp_path / "fs", "1g") as fs:
        d = start_daemon(fs, settings='disk_reserve = "500M"\ndisk_min_free = "20M"\n')
        try:
            if _unavailable(d):
                pytest.skip(f"sized volumes are unavailable here: {_unavailable(d)}")
            target = make_env(d)
            status, body = d.api("POST", env_url(target, "/volumes"),
                                 {"name": "data", "size": "300M"})
            assert status == 201, body
            status, body = d.api("POST", env_url(target, "/volumes"),
                                 {"name": "more", "size": "300M"})
            assert status == 422, body
            assert "disk_reserve" in body["error"]["message"]
            status, body = d.api("POST", env_url(target, "/volumes/data/snapshots"), {})
            assert status == 409, body
            assert "reserve" in body["error"]["message"]
            assert free_bytes(fs) > 400 * MIB  # the reserve is still there
            status, body = d.api("DELETE", env_url(target, "/volumes/data"))
            assert status == 200, body
        finally:
            stop_daemon(d)
            cleanup_volumes(d.data)


def _unavailable(d: Any) -> str | None:
    return getattr(d.daemon.volumes, "unavailable", None)


def test_the_reconciler_keeps_going_while_writes_fail_for_want_of_space(tmp_path: Path) -> None:
    with small_fs(tmp_path / "fs") as fs, \
            local_daemon(fs, settings='disk_min_free = "20M"\n') as d:
        target = make_env(d)
        satisfy_gate(d, target)
        status, body = deploy(d, target)
        assert status == 201, body
        wait_converged(d, target)
        fill(fs / "filler")
        # platd looks at the disk at most once a second; seeing it full, it gives its ballast
        # back ...
        _until(lambda: d.api("GET", env_url(target, "/status"))[1]["disk"]["full"],
               "platd to see the disk full")
        assert not (d.data / "ballast").exists()
        fill(fs / "filler-2")  # ... and that is taken too: not a byte left
        assert free_bytes(fs) < 64 * 1024
        container = next(iter(d.runtime.containers))
        passes = d.daemon.reconciler.passes
        d.portal.call(d.runtime.crash, container)
        # The crash cannot be recorded (SQLITE_FULL); the loop keeps passing and restarting.
        _until(lambda: d.daemon.reconciler.passes > passes + 2, "more reconcile passes")
        assert not d.running.done(), "the daemon stopped"
        assert d.api("GET", env_url(target, "/status"))[0] == 200
        # Room again: what could not be written is written by the next passes.
        (fs / "filler-2").unlink()
        (fs / "filler").unlink()

        def restarted() -> bool:
            _, body = d.api("GET", env_url(target, "/status"))
            instances = body["workloads"][0]["instances"]
            return (sum(i["restarts"] for i in instances) >= 1
                    and all(i["state"] == "running" for i in instances))

        _until(restarted, "the crash to be recorded and the instance running again")


def test_log_lines_the_disk_has_no_room_for_are_counted_and_the_writer_goes_on(
        tmp_path: Path) -> None:
    from platd.logs.retention import Retention
    from platd.logs.store import LogStore, Origin

    with small_fs(tmp_path / "fs") as fs:
        store = LogStore(fs / "logs.db", Retention())
        try:
            origin = Origin("env-1", "web", "i1", "r1")
            store.submit_app(origin, "c1", [(1, 1, "kept", False)], "c1")
            store.call(lambda _conn: None).result(timeout=30)
            fill(fs / "filler")
            store.submit_app(origin, "c1", [(2 + i, 1, "y" * 200, False) for i in range(5_000)],
                             "c1")
            with contextlib.suppress(sqlite3.OperationalError):  # the batch's error, if shared
                store.call(lambda _conn: None).result(timeout=30)
            (fs / "filler").unlink()
            store.submit_app(origin, "c1", [(10_000, 1, "after", False)], "c1")
            store.call(lambda _conn: None).result(timeout=30)
            reader = store.reader()
            assert [m for (m,) in reader.execute("SELECT message FROM lines ORDER BY seq")] == [
                "kept", "after"]
            dropped = reader.execute("SELECT dropped, dropped_through FROM env_usage").fetchone()
            assert dropped == (5_000, 5_001)
        finally:
            store.close()
