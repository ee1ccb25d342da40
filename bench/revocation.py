"""How soon an open session ends once its person loses access (issue 18: "within a second").

One platd on the fake runtime, in this process, with people made through real invites and
tokens from the real device flow (tests/people/people_support.py). Each round, alternating:

1. exec: a person's open exec session (`cat` with stdin, over the exec websocket) and an owner
   revoking that person's token (`DELETE /v1/tokens/ID`). Measured: from sending the revoke to
   the session's error arriving. Reference: one echo round trip of the same session (a frame
   out, the same bytes back), just before.
2. console: a signed-in person's console websocket and an owner lowering their role
   (`PATCH /v1/orgs/ORG/members/NAME`). Measured: from sending the change to `ended` arriving.
   Reference: a ping/pong of the same socket, just before.

Both measured times include the owner's request itself (what a person waits for after typing
`plat tokens revoke`). The daemon ends sessions as the change commits, not on a timer
(platd/api/access.py), so the figure is a few round trips, not a polling period.
Run: .venv/bin/python bench/revocation.py [--rounds N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import median_of, parse_args, print_table
from websockets.sync.client import connect

from tests.daemon_support import start_daemon, stop_daemon
from tests.people.people_support import FAST, PASSWORD, Visitor, make_user, user_token
from tui import exec_session

ORG = "bench"
TARGET = f"{ORG}/shop/tools/prod"
MANIFEST = """app = "tools"
[workloads.box]
image = "busybox:latest"
command = ["sleep", "1000000"]
count = 1
cpu = 0.1
memory = "32M"
min_ready = "1s"
"""


def exec_round(d: Any, n: int) -> tuple[float, float]:
    """(echo round trip, revoke to the session's end) for a new person's token."""
    name = f"ex{n}"
    make_user(d, ORG, name, "deployer")
    token = user_token(d, name)
    _status, me = d.api("GET", "/v1/whoami", token=token)
    url = exec_session.exec_url(d.url, TARGET)
    with connect(url, additional_headers={"Authorization": f"Bearer {token}"}, proxy=None,
                 open_timeout=30) as ws:
        ws.send(json.dumps({"type": "start", "workload": "box", "cmd": ["cat"],
                            "stdin": True}))
        started = json.loads(ws.recv(timeout=30))
        assert started["type"] == "started", started
        t0 = time.perf_counter()
        ws.send(b"\x00ping\n")
        while b"ping" not in _bytes(ws.recv(timeout=30)):
            pass
        echo = time.perf_counter() - t0
        t0 = time.perf_counter()
        status, body = d.api("DELETE", f"/v1/tokens/{me['token_id']}")
        assert status == 200, body
        while True:
            message = ws.recv(timeout=30)
            if isinstance(message, str) and json.loads(message)["type"] == "error":
                break
        return echo, time.perf_counter() - t0


def _bytes(message: str | bytes) -> bytes:
    return message if isinstance(message, bytes) else message.encode()


def console_round(d: Any, n: int) -> tuple[float, float]:
    """(ping/pong, role change to `ended`) for a new person's console session."""
    name = f"co{n}"
    make_user(d, ORG, name, "deployer")
    v = Visitor(d.url)
    try:
        page = v.get("/console")
        r = v.post("/console/signin", {"name": name, "password": PASSWORD}, page=page.text)
        assert r.status_code == 303, r.text
        page = v.get("/console")
        csrf = page.text.split('name=csrf content="', 1)[1].split('"', 1)[0]
        r = v._keep(v.http.post("/console/ticket", headers={
            **v._cookie(), "Origin": v.base, "X-CSRF-Token": csrf}))
        ticket = r.json()["ticket"]
        url = d.url.replace("http://", "ws://") + f"/console/ws?ticket={ticket}"
        with connect(url, additional_headers={"Origin": v.base}, open_timeout=30) as ws:
            assert json.loads(ws.recv(timeout=30))["type"] == "hello"
            t0 = time.perf_counter()
            ws.send(json.dumps({"type": "ping"}))
            while json.loads(ws.recv(timeout=30))["type"] != "pong":
                pass
            pong = time.perf_counter() - t0
            t0 = time.perf_counter()
            status, body = d.api("PATCH", f"/v1/orgs/{ORG}/members/{name}", {"role": "viewer"})
            assert status == 200, body
            while json.loads(ws.recv(timeout=30))["type"] != "ended":
                pass
            return pong, time.perf_counter() - t0
    finally:
        v.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parse_args(parser, {"rounds": 2})
    with tempfile.TemporaryDirectory(prefix="plat-bench-revocation-") as tmp:
        d = start_daemon(Path(tmp), settings=FAST)
        try:
            d.make_env(TARGET)
            (Path(tmp) / "plat.toml").write_text(MANIFEST)
            r = d.plat("deploy", "--target", TARGET, "-f", str(Path(tmp) / "plat.toml"))
            assert r.code == 0, r.err
            samples: dict[str, list[float]] = {k: [] for k in ("echo", "exec", "pong", "con")}
            for n in range(args.rounds):
                echo, ended = exec_round(d, n)
                samples["echo"].append(echo)
                samples["exec"].append(ended)
                pong, ended = console_round(d, n)
                samples["pong"].append(pong)
                samples["con"].append(ended)
        finally:
            stop_daemon(d)
    m = {k: median_of(v) for k, v in samples.items()}
    print_table(f"An open session ends once access is lost ({args.rounds} rounds, fake runtime)", [
        ("exec: echo round trip (reference)", m["echo"], None, ""),
        ("exec: token revoked -> session ended", m["exec"], m["echo"], "< 1 s"),
        ("console: ping/pong (reference)", m["pong"], None, ""),
        ("console: role lowered -> session ended", m["con"], m["pong"], "< 1 s"),
    ])
    worst = max(max(samples["exec"]), max(samples["con"]))
    print(f"slowest end of a session: {worst * 1000:.1f} ms")


if __name__ == "__main__":
    main()
