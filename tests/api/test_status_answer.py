"""``GET .../status``: the cluster line only when asked, never holding the status back.

The TUI polls the status every second and a failed deploy reads it too; neither shows the
cluster line, so it is computed only for ``?cluster=1`` (``plat status``). Asked for, it is
bounded: gossip that fails or hangs (a stuck Serf agent) leaves ``cluster`` null and a log line,
and the status still answers. The daemon is assembled in this process (fake runtime, fake data
plane); the cluster summary is replaced by one that fails or never returns, the way a broken
or stuck agent would make the real one behave.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from api_support import deploy, env_url, satisfy_gate, wait_converged

from platd.api import cluster as cluster_api


@pytest.fixture
def converged(api: Any, fresh_env: str) -> str:
    satisfy_gate(api, fresh_env)
    code, body = deploy(api, fresh_env)
    assert code == 201, body
    wait_converged(api, fresh_env)
    return fresh_env


def _status(api: Any, target: str, query: str = "") -> dict[str, Any]:
    code, body = api.api("GET", env_url(target, f"/status{query}"))
    assert code == 200, body
    assert isinstance(body, dict)
    return body


def test_the_cluster_is_computed_only_when_asked(
        api: Any, converged: str, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[object] = []
    real = cluster_api.summary

    async def counting(*args: Any) -> dict[str, Any] | None:
        asked.append(args)
        return await real(*args)

    monkeypatch.setattr(cluster_api, "summary", counting)
    plain = _status(api, converged)
    assert "cluster" not in plain  # not asked: not said, not even as "no cluster"
    assert plain["workloads"][0]["healthy"] == 2
    assert asked == []
    # A host of its own, asked: null, as before.
    assert _status(api, converged, "?cluster=1")["cluster"] is None
    assert len(asked) == 1
    assert "cluster" not in _status(api, converged, "?cluster=0")
    # A query a platd does not know is ignored: an older platd answers ?cluster=1 as before.
    assert "cluster" not in _status(api, converged, "?unknown=1")


def test_a_failing_cluster_summary_leaves_the_line_out_and_status_answers(
        api: Any, converged: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args: Any) -> dict[str, Any] | None:
        raise RuntimeError("database disk image is malformed")

    monkeypatch.setattr(cluster_api, "summary", broken)
    body = _status(api, converged, "?cluster=1")
    assert body["cluster"] is None
    assert body["workloads"][0]["healthy"] == 2
    assert "the cluster line left out: RuntimeError('database disk image is malformed')" \
        in api.log()
    assert "Traceback" not in api.log()


def test_a_hanging_cluster_summary_is_cut_off_and_status_answers(
        api: Any, converged: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def stuck(*args: Any) -> dict[str, Any] | None:
        await asyncio.Event().wait()  # a Serf agent that never answers
        raise AssertionError("unreachable")

    monkeypatch.setattr(cluster_api, "summary", stuck)
    monkeypatch.setattr(cluster_api, "SUMMARY_TIMEOUT", 0.05)  # the test need not wait 1 s
    body = _status(api, converged, "?cluster=1")
    assert body["cluster"] is None
    assert body["workloads"][0]["healthy"] == 2
    assert "gossip and the hosts did not answer within 0.05 s" in api.log()

