"""The web console of one host of a cluster reaches an instance on another host (real Docker).

Two platd on loopback addresses share the machine's engine (``loopback.LoopbackLab``, as in
``test_docker_cluster``). A person signed in to h0's console runs ``exec`` on an instance that
h1 runs: platd sees it is not its own (``platd.api.console_exec`` answers ``ELSEWHERE``) and
the console opens h0's exec websocket with the person's token, which relays the session to h1
(``/v1/peer/exec``). What the person relies on: the command's output and exit status in the
block; with ``-it``, keys typed into the page reach the remote TTY and its echo comes back, and
Ctrl-] leaves the session. The console is driven over its websocket exactly as its page does
(a ticket got with the session cookie and CSRF token, binary messages for keys).
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.cluster.platd_cluster import Host, wait_for
from tests.cluster.test_docker_cluster import docker_cluster, healthy  # noqa: F401 (fixture)
from tests.cluster.test_placement_cluster import TARGET, capacities_known, deploy, site, status
from tests.people.people_support import PASSWORD, Visitor, accept

pytestmark = [pytest.mark.docker, pytest.mark.slow]

MANIFEST = """app = "web"
[workloads.site]
image = "127.0.0.1:5000/hello:v1"
count = 2
[workloads.site.health]
tcp = 8080
"""


class Page(Visitor):
    """h0's console page as its script talks to platd: signed in, a ticket, the websocket."""

    def sign_in(self, name: str) -> None:
        page = self.get("/console")
        r = self.post("/console/signin", {"name": name, "password": PASSWORD}, page=page.text)
        assert r.status_code == 303, r.text

    def ws(self) -> Any:
        page = self.get("/console").text
        match = re.search(r'name=csrf content="([^"]+)"', page)
        assert match, page
        r = self._keep(self.http.post("/console/ticket", headers={
            **self._cookie(), "Origin": self.base, "X-CSRF-Token": match.group(1)}))
        assert r.status_code == 200, r.text
        url = self.base.replace("http://", "ws://") + f"/console/ws?ticket={r.json()['ticket']}"
        return connect(url, origin=self.base, open_timeout=10)  # type: ignore[arg-type]


def _run(ws: Any, line: str) -> tuple[str, int]:
    """Run ``line`` in the console: the block's output and exit code."""
    ws.send(json.dumps({"type": "run", "line": line, "rows": 24, "cols": 80}))
    out = ""
    while True:
        m = ws.recv(timeout=60)
        if isinstance(m, bytes):
            continue
        body = json.loads(m)
        if body["type"] == "out":
            out += body["text"]
        elif body["type"] == "end":
            return out, int(body["code"])


def test_the_console_execs_into_an_instance_on_another_host(
    docker_cluster: Callable[[int], list[Host]],  # noqa: F811 (the imported fixture)
) -> None:
    hosts = docker_cluster(2)
    h0, h1 = hosts
    capacities_known(hosts)
    deploy(h0, MANIFEST)
    both = Counter([h0.host_id, h1.host_id])
    wait_for(lambda: healthy(h0) == both, 90, "one healthy instance on each host")
    remote = next(i["id"] for i in site(status(h0))["instances"] if i["host"] == h1.host_id)

    class Api:  # people_support's invite and accept, against h0
        url = h0.api

        @staticmethod
        def api(method: str, path: str, body: Any = None, token: str | None = None) -> Any:
            return h0.request(method, path, body, token=token)

    code, answer = h0.request("POST", "/v1/orgs/o/invites", {"name": "dana", "role": "deployer"})
    assert code == 201, answer
    assert accept(Api, answer["code"]).status_code == 200

    page = Page(h0.api)
    try:
        page.sign_in("dana")
        with page.ws() as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "hello"
            _, code = _run(ws, f"use {TARGET}")
            assert code == 0

            # Without a TTY: the output is the block's, the exit code the remote command's.
            marker = uuid.uuid4().hex
            out, code = _run(ws, f"exec site --instance {remote} -- sh -c "
                                 f"'echo {marker}; cat /etc/hostname; exit 3'")
            assert code == 3, out
            assert marker in out
            assert f"exec session on instance {remote}" in out
            hostname = out.split(marker, 1)[1].split()[0]
            assert remote.startswith(hostname) or hostname in _container_names(h1)

            # With a TTY: keys from the page reach the remote TTY, its echo comes back as
            # binary messages; Ctrl-] leaves, and the block says platd hung it up.
            ws.send(json.dumps({"type": "run", "rows": 24, "cols": 80, "line":
                                f"exec site --instance {remote} -it -- sh -c "
                                "'echo session-up; exec cat'"}))
            seen = b""
            tty = False
            while b"session-up" not in seen:
                m = ws.recv(timeout=60)
                if isinstance(m, bytes):
                    seen += m
                elif json.loads(m)["type"] == "tty":
                    tty = True
            assert tty
            typed = f"typed-{uuid.uuid4().hex[:8]}"
            ws.send(typed.encode())
            while typed.encode() not in seen:
                m = ws.recv(timeout=30)
                if isinstance(m, bytes):
                    seen += m
            ws.send(json.dumps({"type": "cancel"}))  # Ctrl-] in the page
            notes = ""
            while True:
                body = json.loads(m) if isinstance(m := ws.recv(timeout=30), str) else {}
                if body.get("type") == "out":
                    notes += body["text"]
                if body.get("type") == "end":
                    assert body["code"] == 130, notes
                    break
            assert "left the exec session" in notes
    finally:
        page.close()


def _container_names(host: Host) -> str:
    import subprocess

    return subprocess.run(["docker", "ps", "--filter", f"label=dev.plat.host={host.host_id}",
                           "--format", "{{.ID}} {{.Names}}"],
                          capture_output=True, text=True).stdout
