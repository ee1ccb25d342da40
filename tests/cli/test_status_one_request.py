"""`plat status` asks platd once, and still says the cluster when an older platd is asked.

A read command's time is mostly its round trips and what they cost platd, so `plat status`
gets everything it shows (status, endpoints, the cluster line) from one `GET .../status`, with
`?cluster=1`: the cluster line is computed only when asked, and a failed rollout's summary
(which reads the status too) does not ask.
A recording proxy in front of the real platd sees every request the real `plat` makes. As an
older platd (one whose status answer has no `cluster` field), the proxy drops that field and
answers the cluster routes as a cluster member would: `plat status` then asks for them, as it
did before, and says the same line.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from cli_support import MANIFEST, Cli, satisfy_gate

# What a member of a 3-host cluster with one host down says (the old routes' shapes).
CLUSTER = {"cluster": "lab", "alive": 2, "total": 3, "lag_seconds": 0.4, "last_sync": 1.0}
HOSTS = {"cluster": "lab", "alive": 2, "total": 3, "lag_seconds": 0.4, "hosts": [
    {"name": "h0", "state": "alive"}, {"name": "h1", "state": "alive"},
    {"name": "h2", "state": "failed"}]}
CLUSTER_LINE = "cluster lab: 2/3 hosts alive — h2 failed; this host 0.4 s behind"

Rewrite = Callable[[str, dict[str, Any]], dict[str, Any]]
# A path the proxy answers itself, with that body, instead of asking platd.
Canned = dict[str, dict[str, Any]]


class Recorder(ThreadingHTTPServer):
    def __init__(self, upstream: int, rewrite: Rewrite | None, canned: Canned) -> None:
        super().__init__(("127.0.0.1", 0), Forward)
        self.upstream = upstream
        self.rewrite = rewrite
        self.canned = canned
        self.requests: list[str] = []


class Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keeps the connection open, as platd does
    server: Recorder

    def do_GET(self) -> None:
        self.server.requests.append(f"GET {self.path}")
        path = urlsplit(self.path).path
        if path in self.server.canned:
            self._send(200, json.dumps(self.server.canned[path]).encode())
            return
        conn = http.client.HTTPConnection("127.0.0.1", self.server.upstream, timeout=30)
        conn.request("GET", self.path, headers={
            "Authorization": self.headers.get("Authorization", ""), "Accept": "application/json"})
        answer = conn.getresponse()
        body = answer.read()
        conn.close()
        if self.server.rewrite is not None and answer.status == 200:
            body = json.dumps(self.server.rewrite(path, json.loads(body))).encode()
        self._send(answer.status, body)

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def deployed(platd: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An env where `plat deploy` of examples/hello converged."""
    from cli_support import make_env

    target = make_env(platd)
    satisfy_gate(platd, target)
    r = Cli(platd, tmp_path_factory.mktemp("plat-config"))(
        "deploy", "-f", str(MANIFEST), "--target", target)
    assert r.code == 0, r.err
    return target


@pytest.fixture
def proxy(platd: Any) -> Iterator[Callable[..., Recorder]]:
    started: list[Recorder] = []

    def start(rewrite: Rewrite | None = None, canned: Canned | None = None) -> Recorder:
        server = Recorder(platd.port, rewrite, canned or {})
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def through(cli: Cli, server: Recorder, *args: str) -> Any:
    return cli(*args, PLAT_API=f"http://127.0.0.1:{server.server_address[1]}")


def test_status_makes_one_request_and_says_what_it_said_before(
        cli: Cli, deployed: str, proxy: Callable[..., Recorder]) -> None:
    server = proxy()
    r = through(cli, server, "status", "--target", deployed)
    assert r.code == 0, r.err
    assert server.requests == [f"GET /v1/envs/{deployed}/status?cluster=1"]
    assert r.out.splitlines()[0] == f"{deployed}  release v1 (converged)"
    assert "cluster" not in r.out  # a host of its own
    direct = cli("status", "--target", deployed)
    assert direct.out.splitlines()[0] == r.out.splitlines()[0]
    # The answer itself says there is no cluster, and --json shows it as before.
    s = json.loads(through(cli, server, "status", "--json", "--target", deployed).out)
    assert s["cluster"] is None
    assert s["endpoints"] == []
    assert server.requests[1:] == [f"GET /v1/envs/{deployed}/status?cluster=1"]


def test_the_cluster_line_comes_from_the_status_answer(
        cli: Cli, deployed: str, proxy: Callable[..., Recorder]) -> None:
    """A member's answer carries the cluster (with the hosts that are down): no other request."""
    member = {**CLUSTER, "down": [{"name": "h2", "state": "failed"}]}
    server = proxy(rewrite=lambda path, body: {**body, "cluster": member})
    r = through(cli, server, "status", "--target", deployed)
    assert r.code == 0, r.err
    assert r.out.splitlines()[-1] == CLUSTER_LINE
    assert server.requests == [f"GET /v1/envs/{deployed}/status?cluster=1"]


def test_an_older_platd_is_asked_for_the_cluster_as_before(
        cli: Cli, deployed: str, proxy: Callable[..., Recorder]) -> None:
    def older(path: str, body: dict[str, Any]) -> dict[str, Any]:
        body.pop("cluster", None)
        return body

    server = proxy(rewrite=older, canned={"/v1/cluster": CLUSTER, "/v1/hosts": HOSTS})
    r = through(cli, server, "status", "--target", deployed)
    assert r.code == 0, r.err
    assert r.out.splitlines()[-1] == CLUSTER_LINE
    assert server.requests == [f"GET /v1/envs/{deployed}/status?cluster=1", "GET /v1/cluster",
                               "GET /v1/hosts"]
    s = json.loads(through(cli, server, "status", "--json", "--target", deployed).out)
    assert s["cluster"]["down"] == [{"name": "h2", "state": "failed"}]


def test_an_unreadable_cluster_field_leaves_the_line_out(
        cli: Cli, deployed: str, proxy: Callable[..., Recorder]) -> None:
    """A newer platd's cluster of another shape: status says the rest, with no traceback."""
    server = proxy(rewrite=lambda path, body: {**body, "cluster": {"cluster": "lab"}})
    r = through(cli, server, "status", "--target", deployed)
    assert r.code == 0, r.err
    assert r.out.splitlines()[0] == f"{deployed}  release v1 (converged)"
    assert "cluster" not in r.out
    assert r.err == ""


def test_a_failed_rollouts_summary_reads_the_status_without_the_cluster(
        cli: Cli, deployed: str, proxy: Callable[..., Recorder]) -> None:
    """`plat wait` (and deploy, which ends the same way) on a failed release reads the status
    for the releases still serving: it shows no cluster line, so it does not ask for one."""
    def failed(path: str, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "status": "failed"} if "/releases/" in path else body

    server = proxy(rewrite=failed)
    r = through(cli, server, "wait", "v1", "--target", deployed)
    assert r.code == 8, r.err  # rollout_failed
    assert "Rollout of v1 failed" in r.err
    reads = [q for q in server.requests if urlsplit(q.split()[1]).path.endswith("/status")]
    assert reads == [f"GET /v1/envs/{deployed}/status"]
