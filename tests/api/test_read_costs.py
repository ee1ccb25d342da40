"""What `plat releases` and `plat status` cost platd does not grow with the env's history.

`plat releases` used to describe each release with five queries of its own (its verdicts, its
config version, its rollout marks...), so an env with a long history made every listing slower.
Here the statements one listing runs are counted on the real store (SQLite, this thread only:
the reconciler reads in the background) with one release and with four: the same number. The
answers are checked too, so a cheaper listing that said less would fail.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from api_support import MANIFEST, deploy, env_url, satisfy_gate, wait_converged
from sqlalchemy import event
from sqlalchemy.engine import Engine

from platd.services import releases_read, status, tokens


@pytest.fixture
def count_statements() -> Iterator[Callable[[Callable[[], Any]], tuple[int, Any]]]:
    me = threading.get_ident()
    seen: list[str] = []

    def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if threading.get_ident() == me:
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", on_execute)

    def run(fn: Callable[[], Any]) -> tuple[int, Any]:
        seen.clear()
        answer = fn()
        return len(seen), answer

    try:
        yield run
    finally:
        event.remove(Engine, "before_cursor_execute", on_execute)


def test_listing_releases_runs_as_many_statements_for_four_releases_as_for_one(
        api: Any, fresh_env: str, count_statements: Any) -> None:
    satisfy_gate(api, fresh_env)
    svc = api.daemon.services
    admin = tokens.principal_for(svc, api.token)

    def listing() -> dict[str, Any]:
        return releases_read.list_releases(svc, admin, fresh_env)

    def status_answer() -> dict[str, Any]:
        return status.status_answer(svc, admin, fresh_env)

    code, _ = deploy(api, fresh_env)
    assert code == 201
    wait_converged(api, fresh_env)
    one, answer = count_statements(listing)
    assert [r["version"] for r in answer["releases"]] == ["v1"]
    status_one, _ = count_statements(status_answer)
    for n in (2, 3, 4):
        code, _ = api.api("POST", env_url(fresh_env, "/deploy"),
                          {"manifest": MANIFEST.read_text(), "force": True})
        assert code == 201, n
        wait_converged(api, fresh_env)
    four, answer = count_statements(listing)
    assert four == one
    assert [(r["version"], r["status"], r["current"]) for r in answer["releases"]] == [
        ("v4", "converged", True), ("v3", "superseded", False), ("v2", "superseded", False),
        ("v1", "superseded", False)]
    assert all(r["ever_converged"] and r["config_version"] == 1 for r in answer["releases"])
    # Each release's rollout started after the one before it: cursors of their own.
    cursors = [r["rollout_cursor"] for r in answer["releases"]]
    assert cursors == sorted(cursors, reverse=True)
    assert len(set(cursors)) == 4

    status_four, s = count_statements(status_answer)
    assert status_four == status_one
    assert s["release"]["version"] == "v4"
    assert s["release"]["status"] == "converged"
