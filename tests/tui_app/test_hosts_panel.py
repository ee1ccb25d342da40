"""The Hosts tab: the cluster's hosts in the words of ``plat hosts``, and never a crash.

Against the stand-in for platd of ``test_wrong_answers`` (a real HTTP server on loopback, in
this process), which here also answers ``/v1/hosts`` as a member of a 3-host cluster with one
host failed: the tab shows the CLI's rows and summary line (a snapshot at 80x24, and the
describe dialog); on a host of its own it says so and how to make a cluster; when the answer
is an error, empty, of another shape or too slow it says so in place, keeps refreshing, and
shows the hosts again once the answers are good.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from textual.widgets import DataTable, Static

from tests.tui_app.test_tui import wait_for
from tests.tui_app.test_wrong_answers import TARGET, Answer, StandIn, assert_alive
from tui.app import PlatApp
from tui.client import Client
from tui.render import hosts as host_words
from tui.screens.text_screen import TextScreen
from tui.widgets.hosts_panel import HostsPanel

AT = 1_795_000_000.0
GIB = 2**30


def member(name: str, n: int, **kw: Any) -> dict[str, Any]:
    return {"id": f"0190a3f2-7c41-7d0e-9b1a-00000000000{n}", "name": name,
            "api": f"http://10.0.0.{n}:7400", "gossip": f"10.0.0.{n}:7946", "region": "eu-west",
            "labels": {"disk": "ssd"}, "state": "alive", "this_host": False, "cpus": 4.0,
            "memory": 8 * GIB, "cordoned": False, "joined_at": AT, "joined": "2h05m",
            "lag_seconds": 0.0, **kw}


HOSTS = [member("edge-1", 1, this_host=True),
         member("edge-2", 2, lag_seconds=0.3),
         member("edge-3", 3, state="failed", lag_seconds=None, labels={})]
CLUSTER = {"cluster": "edge", "hosts": HOSTS, "alive": 2, "total": 3, "lag_seconds": 0.3}
ALONE = {"cluster": None, "hosts": [], "alive": 0, "total": 0, "lag_seconds": 0.0}
EVENTS = [{"at": AT, "outcome": "ok",
           "message": "host edge-3 joined the cluster (token 3f9c0a1b2c4d)"}]


class HostsStandIn(StandIn):
    hosts: dict[str, Any] = CLUSTER  # what GET /v1/hosts answers while the mode is "good"


class HostsAnswer(Answer):
    server: HostsStandIn

    def answer(self) -> None:
        path = urlsplit(self.path).path
        if self.server.mode != "good" or not path.startswith("/v1/hosts"):
            super().answer()
            return
        self.server.requests += 1
        listing = self.server.hosts
        status, body = 200, listing
        if path != "/v1/hosts":
            key = unquote(path.removeprefix("/v1/hosts/"))
            found = [h for h in listing["hosts"] if key in (h["id"], h["name"])]
            status, body = (200, {**found[0], "events": EVENTS}) if found else (
                404, {"error": {"code": "not_found", "message": f"no host {key!r}"}})
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture
def stand_in() -> Iterator[HostsStandIn]:
    server = HostsStandIn(("127.0.0.1", 0), HostsAnswer)
    server.hosts = CLUSTER
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def make_app(server: StandIn) -> PlatApp:
    url = f"http://127.0.0.1:{server.server_address[1]}"
    app = PlatApp(lambda: Client(url, "plat_stand-in", timeout=0.5), "http://127.0.0.1:PORT",
                  TARGET, token="plat_stand-in")
    app.animation_level = "none"
    return app


def note(app: PlatApp) -> str:
    return str(app.query_one(HostsPanel).query_one(".resource-note", Static).render())


async def hosts_tab(pilot: Any, rows: int = 3) -> DataTable[Any]:
    app = pilot.app
    await pilot.press("7")
    await wait_for(pilot, lambda: bool(app.query(HostsPanel)))
    table = app.query_one(HostsPanel).query_one(DataTable)
    await wait_for(pilot, lambda: table.row_count == rows and app.focused is table)
    return table


async def steady(pilot: Any) -> None:
    previous = ""
    for _ in range(20):
        await pilot.pause(0.3)
        shot = pilot.app.export_screenshot()
        if shot == previous:
            return
        previous = shot


def test_hosts_tab(stand_in: HostsStandIn, snap_compare: Any) -> None:
    async def settle(pilot: Any) -> None:
        await hosts_tab(pilot)
        await steady(pilot)

    assert snap_compare(make_app(stand_in), terminal_size=(80, 24), run_before=settle)


def test_host_describe(stand_in: HostsStandIn, snap_compare: Any) -> None:
    async def settle(pilot: Any) -> None:
        await hosts_tab(pilot)
        await pilot.press("down", "down", "enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, TextScreen))
        await steady(pilot)

    assert snap_compare(make_app(stand_in), terminal_size=(80, 24), run_before=settle)


def test_the_tab_shows_the_cli_words(stand_in: HostsStandIn) -> None:
    """The rows and the summary are the ones `plat hosts` prints for the same answer."""
    async def run() -> None:
        app = make_app(stand_in)
        async with app.run_test(size=(140, 30)) as pilot:
            table = await hosts_tab(pilot)
            shown = [[str(c) for c in table.get_row_at(i)] for i in range(3)]
            assert shown == [[str(c) for c in host_words.host_row(h)] for h in HOSTS]
            cli = host_words.hosts_lines(CLUSTER)
            assert note(app).startswith(cli[-1])
            assert cli[-1] == "cluster edge: 2/3 hosts alive — edge-3 failed"
            stand_in.hosts = ALONE
            await wait_for(pilot, lambda: table.row_count == 0)
            await wait_for(pilot, lambda: note(app) == "\n".join(host_words.hosts_lines(ALONE)))
            assert_alive(app)

    asyncio.run(run())


WRONG = {"error": "the stand-in failed on purpose", "empty": "platd sent an empty answer to GET",
         "shape": "has no 'hosts' in it", "slow": "timed out"}


def test_odd_answers_are_said_and_the_tab_keeps_going(stand_in: HostsStandIn) -> None:
    async def run() -> None:
        app = make_app(stand_in)
        async with app.run_test(size=(120, 30)) as pilot:
            table = await hosts_tab(pilot)
            for mode, want in WRONG.items():
                stand_in.mode = mode
                try:
                    await wait_for(pilot, lambda want=want: want in note(app), timeout=30)
                except AssertionError:
                    raise AssertionError(f"{mode}: the tab shows {note(app)!r}") from None
                assert "(retrying)" in note(app)
                if mode == "shape":  # the describe dialog reads its answer as warily
                    await pilot.press("enter")
                    await wait_for(pilot, lambda: any("platd's answer to GET /v1/hosts/" in
                                                      n.message for n in app._notifications))
                assert_alive(app)
                stand_in.mode = "good"
                await wait_for(pilot, lambda: note(app).startswith("cluster edge: 2/3"))
                assert table.row_count == 3
            assert_alive(app)

    asyncio.run(run())
