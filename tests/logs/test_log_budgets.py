"""The log store within its budgets (issue #19): one env cannot take more than
``env_logs_max_bytes`` (its own oldest lines go first, other envs keep theirs), the host budget
is held to a tenth of the data disk, and ``plat logs`` says where lines were dropped."""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path

from platd.logs.retention import Retention
from platd.logs.store import LogStore, Origin

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))

MIB = 1024 * 1024
LINE = "x" * 100


def _flush(store: LogStore) -> None:
    store.call(lambda _conn: None).result(timeout=30)


def _usage(store: LogStore) -> dict[str, tuple[int, int, int]]:
    rows = store.reader().execute(
        "SELECT e.env_id, u.bytes, u.dropped, (SELECT COUNT(*) FROM lines l WHERE l.env = u.env) "
        "FROM env_usage u JOIN envs e ON e.id = u.env").fetchall()
    return {env: (int(b), int(d), int(n)) for env, b, d, n in rows}


def _fill(store: LogStore, env: str, lines: int) -> None:
    origin = Origin(env, "web", "i1", "r1")
    for start in range(0, lines, 5_000):
        store.submit_app(origin, f"c-{env}", [(time.time_ns() + i, 1, LINE, False)
                                              for i in range(start, min(lines, start + 5_000))],
                         "cursor")
    _flush(store)


def test_a_noisy_env_loses_its_own_oldest_lines_and_no_other_env_does(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs.db", Retention(max_env_bytes=MIB))
    try:
        _fill(store, "quiet", 500)
        _fill(store, "noisy", 30_000)  # ~4.4 MB counted
        deadline = time.monotonic() + 30
        while _usage(store)["noisy"][0] > MIB:
            assert time.monotonic() < deadline, _usage(store)
            time.sleep(0.1)
        _used, dropped, kept = _usage(store)["noisy"]
        assert dropped > 20_000
        assert dropped + kept == 30_000
        assert _usage(store)["quiet"] == (500 * (100 + 48), 0, 500)
        newest = store.reader().execute(
            "SELECT MAX(seq) FROM lines l JOIN envs e ON e.id = l.env WHERE e.env_id = 'noisy'"
        ).fetchone()[0]
        assert newest == store.top  # the newest lines stay, the oldest went
    finally:
        store.close()


def test_the_host_budget_is_held_to_a_tenth_of_the_data_disk() -> None:
    r = Retention.from_settings("7d", "1G", disk_bytes=4 * 1024 * MIB)
    assert r.max_bytes == 4 * 1024 * MIB // 10
    assert Retention.from_settings("7d", "1G", disk_bytes=100 * 1024 * MIB).max_bytes == 1024 * MIB


def test_env_usage_is_counted_for_a_store_from_before_it(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs.db")
    _fill(store, "old", 1_000)
    store.close()
    with sqlite3.connect(tmp_path / "logs.db") as conn:
        conn.execute("DELETE FROM env_usage")
    store = LogStore(tmp_path / "logs.db")
    try:
        assert _usage(store)["old"] == (1_000 * (100 + 48), 0, 1_000)
    finally:
        store.close()


def test_plat_logs_says_that_older_lines_were_dropped(tmp_path: Path) -> None:
    from api_support import make_env
    from daemon_support import local_daemon

    with local_daemon(tmp_path, http=True, settings='env_logs_max_bytes = "1M"\n') as d:
        target = make_env(d)
        with sqlite3.connect(d.data / "state.db") as conn:
            env_id = conn.execute(
                "SELECT e.id FROM envs e JOIN apps a ON a.id = e.app_id JOIN projects p ON "
                "p.id = a.project_id JOIN orgs o ON o.id = p.org_id WHERE o.name = ?",
                (target.split("/")[0],)).fetchone()[0]
        store = d.daemon.logs.store
        _fill(store, env_id, 20_000)
        deadline = time.monotonic() + 30
        while _usage(store)[env_id][0] > MIB:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        r = d.plat("logs", "--target", target, "--limit", "10000")
        assert r.code == 0, r.err
        assert "older lines of this env were dropped" in r.err
        assert "env_logs_max_bytes" in r.err
        # A page that does not reach back to the gap says nothing about it.
        r = d.plat("logs", "--target", target, "--limit", "10")
        assert "dropped" not in r.err
