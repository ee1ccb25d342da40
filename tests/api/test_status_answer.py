"""``GET .../status``: the cluster line only when asked, never holding the status back, and each
endpoint counting only its own workload's instances.

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


TWO_WORKLOADS = """app = "hello"
[workloads.web]
image = "127.0.0.1:5000/hello:v1"
count = 2
[workloads.web.health]
tcp = 8080
[workloads.api]
image = "127.0.0.1:5000/hello:v1"
count = 1
[workloads.api.health]
tcp = 8080

[[endpoints]]
name = "public"
workload = "web"
internal_port = 8080
external_ports = [{web_port}]

[[endpoints]]
name = "backend"
workload = "api"
internal_port = 8080
external_ports = [{api_port}]
"""


def test_each_endpoint_in_the_status_counts_only_its_own_workloads_instances(
        api: Any, fresh_env: str) -> None:
    """The status lists every endpoint from one read of the env's instances
    (``endpoints._instances_behind`` filters that shared list per endpoint)."""
    from daemon_support import free_port

    manifest = TWO_WORKLOADS.format(web_port=free_port(), api_port=free_port())
    code, body = deploy(api, fresh_env, manifest)
    assert code == 201, body
    wait_converged(api, fresh_env)
    s = _status(api, fresh_env)
    healthy = {w["name"]: w["healthy"] for w in s["workloads"]}
    assert healthy == {"api": 1, "web": 2}
    serving = {e["name"]: (e["workload"], e["serving"]) for e in s["endpoints"]}
    assert serving == {"public": ("web", 2), "backend": ("api", 1)}
    # The same instances as each endpoint's own read (one query per endpoint) finds.
    for name, (workload, _count) in serving.items():
        code, e = api.api("GET", env_url(fresh_env, f"/endpoints/{name}"))
        assert code == 200, e
        ids = {i["id"] for i in e["instances"] if i["serving"]}
        assert ids == {i["id"] for w in s["workloads"] if w["name"] == workload
                       for i in w["instances"]}


def test_describe_workload_says_what_the_status_says_of_it(api: Any, converged: str) -> None:
    """``plat describe workload`` reads the status's row of the workload (in its own session
    since the status helper it used is gone), with the spec and the workload's events."""
    row = next(w for w in _status(api, converged)["workloads"] if w["name"] == "web")
    code, d = api.api("GET", env_url(converged, "/workloads/web"))
    assert code == 200, d
    assert (d["kind"], d["target"], d["release"]["version"]) == ("workload", converged, "v1")
    assert {k: d[k] for k in ("desired", "healthy", "current", "serving")} == \
        {k: row[k] for k in ("desired", "healthy", "current", "serving")}
    assert sorted(i["id"] for i in d["instances"]) == sorted(i["id"] for i in row["instances"])
    assert d["spec"]["count"] == 2
    assert all(e["workload"] == "web" for e in d["events"])
    code, missing = api.api("GET", env_url(converged, "/workloads/nope"))
    assert code == 404, missing
    assert missing["error"]["message"] == \
        f"no workload 'nope' in {converged} (workloads there: web)"
