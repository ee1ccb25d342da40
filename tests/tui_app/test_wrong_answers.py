"""The TUI never dies on what the daemon says.

A stand-in for platd (a real HTTP server on loopback, in this process) answers every route the
app uses wrongly, one way at a time: an error (HTTP 500), an empty body, a body of another
shape (as an older or newer platd might send), and too slowly. Each panel must say so in place
and keep going, the app must keep running with no worker failed, and when the stand-in answers
properly again every panel must show its data again.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from textual.widgets import DataTable, Log, OptionList, RichLog, Static
from textual.worker import WorkerState

from tests.tui_app.test_tui import wait_for
from tui.app import PlatApp
from tui.client import Client
from tui.screens.env_picker import EnvPicker
from tui.widgets.endpoints_panel import EndpointsPanel
from tui.widgets.volumes_panel import VolumesPanel

TARGET = "acme/shop/hello/prod"
ENV = f"/v1/envs/{TARGET}"
AT = 1_795_000_000.0
SLOW = 1.5  # seconds the stand-in takes in "slow" mode: over the client's timeout of 0.5 s


def good_answer(path: str, query: dict[str, str]) -> Any:
    """What a platd of this version answers, for one env with one instance."""
    after = query.get("after")
    if after is not None:  # a long poll: nothing new within a short wait
        time.sleep(min(float(query.get("wait", "0")), 0.3))
    answers: dict[str, Any] = {
        f"{ENV}/status": {"target": TARGET, "release": {"version": "v1", "status": "converged",
                                                        "id": "rel1"},
                          "workloads": [{"name": "web", "current": 1, "desired": 1,
                                         "running": 1, "healthy": 1, "cpu": 0.25,
                                         "memory": "64M", "pending": [], "instances": [
                                             {"id": "inst000001", "release": "v1",
                                              "state": "running", "health": "healthy",
                                              "restarts": 0, "age_seconds": 5.0,
                                              "ports": {}}]}]},
        f"{ENV}/releases": {"target": TARGET, "releases": [
            {"id": "rel1", "version": "v1", "current": True, "created_at": AT,
             "created_by": "admin", "status": "converged", "config_version": 1,
             "images": {"web": "127.0.0.1:5000/hello@sha256:" + "ab" * 32}}]},
        f"{ENV}/events": {"target": TARGET, "cursor": 1, "events": [] if after else [
            {"id": "ev1", "seq": 1, "at": AT, "step": "deploy", "outcome": "ok",
             "workload": None, "instance_id": None, "category": None,
             "message": "the stand-in deployed v1"}]},
        f"{ENV}/logs": {"target": TARGET, "cursor": 1, "more": False, "before": None,
                        "lines": [] if after else [
                            {"seq": 1, "at": AT, "source": "app", "workload": "web",
                             "instance": "inst000001", "release": "rel1", "stream": "stdout",
                             "severity": "info", "message": "hello from the stand-in",
                             "partial": False}]},
        f"{ENV}/endpoints": {"target": TARGET, "endpoints": []},
        f"{ENV}/volumes": {"target": TARGET, "volumes": [], "unavailable": None},
        "/v1/tree/orgs": [{"path": "acme"}],
        "/v1/tree/projects": [{"path": "acme/shop"}],
        "/v1/tree/apps": [{"path": "acme/shop/hello"}],
        "/v1/tree/envs": [{"path": TARGET}],
    }
    return answers.get(path, {"error": {"code": "not_found", "message": f"no route {path}"}})


class StandIn(ThreadingHTTPServer):
    daemon_threads = True
    mode = "good"
    requests = 0
    paths: list[str]  # every request's path and query, in order

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.paths = []

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the app hangs up on answers it no longer waits for (a tab switch, quitting)


class Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as platd's server does
    server: StandIn

    def do_GET(self) -> None:
        self.answer()

    def do_POST(self) -> None:
        self.answer()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests += 1
        self.server.paths.append(self.path)
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        mode = self.server.mode
        status, body = 200, b""
        if mode == "error":
            status, body = 500, json.dumps({"error": {
                "code": "internal", "message": "the stand-in failed on purpose"}}).encode()
        elif mode == "shape":
            body = json.dumps({"surprise": "an answer from another version"}).encode()
        elif mode == "slow":
            time.sleep(SLOW)
            body = b"{}"
        elif mode == "good":
            answer = good_answer(url.path, query)
            if isinstance(answer, dict) and "error" in answer:
                status = 404
            body = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    server = StandIn(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def make_app(server: StandIn, target: str | None = TARGET, timeout: float = 0.5) -> PlatApp:
    url = f"http://127.0.0.1:{server.server_address[1]}"
    return PlatApp(lambda: Client(url, "plat_stand-in", timeout=timeout), url, target,
                   token="plat_stand-in")


def text_of(app: PlatApp, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


def panels(app: PlatApp) -> list[tuple[str, str, Callable[[], str]]]:
    """(key, name, what the panel shows in words) for each tab."""
    return [
        ("1", "status", lambda: text_of(app, "#status-summary")),
        ("2", "releases", lambda: text_of(app, "#releases-note")),
        ("3", "events", lambda: "\n".join(line.text for line in app.query_one(RichLog).lines)),
        ("4", "logs", lambda: text_of(app, "#logs-note")),
        ("5", "endpoints", lambda: str(app.query_one(EndpointsPanel).query_one(
            ".resource-note", Static).render())),
        ("6", "volumes", lambda: str(app.query_one(VolumesPanel).query_one(
            ".resource-note", Static).render())),
    ]


PANELS = ("status", "releases", "events", "logs", "endpoints", "volumes")
WRONG = {
    "error": dict.fromkeys(PANELS, "the stand-in failed on purpose"),
    "empty": dict.fromkeys(PANELS, "platd sent an empty answer to GET"),
    "shape": {"status": "has no 'target' in it", "releases": "has no 'releases' in it",
              "events": "has no 'events' in it", "logs": "has no 'lines' in it",
              "endpoints": "has no 'endpoints' in it", "volumes": "has no 'volumes' in it"},
    # Requests of refreshing panels time out; long polls wait longer, then get `{}`.
    "slow": {"status": "timed out", "releases": "timed out", "events": "empty answer",
             "logs": "empty answer", "endpoints": "timed out", "volumes": "timed out"},
}


def assert_alive(app: PlatApp) -> None:
    assert app.is_running
    assert app.return_code is None
    failed = [w for w in app.workers if w.state == WorkerState.ERROR]
    assert failed == [], f"workers failed: {[(w.name, w.error) for w in failed]}"
    assert not [n for n in app._notifications if "a panel stopped" in n.message]


async def recovered(pilot: Any, app: PlatApp, outage: bool = True) -> None:
    """Every panel shows the good answers again (visited, since hidden ones pause); after an
    ``outage`` the following panels have said that they are back."""
    events, logs = panels(app)[2][2], panels(app)[3][2]
    checks: dict[str, Callable[[], bool]] = {
        "1": lambda: app.query_one("#instances", DataTable).row_count == 1
        and "release v1 (converged)" in text_of(app, "#status-summary"),
        "2": lambda: app.query_one("#releases-table", DataTable).row_count == 1
        and "press b" in text_of(app, "#releases-note"),
        "3": lambda: "the stand-in deployed v1" in events() and (not outage or events()
                     .endswith("reconnected; going on from the last event shown")),
        "4": lambda: "hello from the stand-in" in "\n".join(app.query_one(Log).lines)
        and (not outage or logs().endswith("reconnected; going on from the last line shown")),
        "5": lambda: f"{TARGET} has no endpoints" in panels(app)[4][2](),
        "6": lambda: f"no volumes in {TARGET}" in panels(app)[5][2](),
    }
    for (key, name, shown), check in zip(panels(app), checks.values(), strict=True):
        await pilot.press(key)
        try:
            await wait_for(pilot, check)
        except AssertionError:
            raise AssertionError(f"{name} did not recover; it shows: {shown()!r}") from None


def test_every_panel_says_a_wrong_answer_and_keeps_going(stand_in: StandIn) -> None:
    async def run() -> None:
        app = make_app(stand_in)
        async with app.run_test(size=(120, 30)) as pilot:
            await recovered(pilot, app, outage=False)
            for mode, expected in WRONG.items():
                stand_in.mode = mode
                for key, name, shown in panels(app):
                    await pilot.press(key)
                    want = expected[name]
                    try:
                        await wait_for(pilot, lambda shown=shown, want=want: want in shown(),
                                       timeout=30)
                    except AssertionError:
                        raise AssertionError(f"{mode}: {name} shows {shown()!r}") from None
                    assert_alive(app)
                if mode == "shape":
                    # What a command run from the palette or a dialog reads, too.
                    app.run_command_line("rollback v1")
                    app.run_command_line("describe workload web")
                    await wait_for(pilot, lambda: sum(
                        "platd's answer to" in n.message or "platd answered" in n.message
                        for n in app._notifications) >= 2)
                    assert_alive(app)
                stand_in.mode = "good"
                await recovered(pilot, app)
            assert_alive(app)

    asyncio.run(run())


def test_the_env_picker_says_a_wrong_answer_and_tries_again(stand_in: StandIn) -> None:
    stand_in.mode = "shape"

    async def run() -> None:
        # The client's timeout is not what this test is about: 0.5 s timed out under load
        # in CI, and the picker said "timed out" instead.
        app = make_app(stand_in, target=None, timeout=10.0)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, EnvPicker))
            picker = app.screen

            def title() -> str:
                return str(picker.query_one("#picker-title", Static).render())

            await wait_for(pilot, lambda: "is not what this plat reads" in title())
            assert "press r to try again" in title()
            assert_alive(app)
            stand_in.mode = "good"
            await pilot.press("r")
            await wait_for(pilot, lambda: picker.query_one(OptionList).option_count == 1)
            assert "Pick an env" in title()
            assert app.screen is picker

    asyncio.run(run())


def test_a_worker_that_fails_on_something_unforeseen_is_said_not_fatal(
        stand_in: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    """The net under everything above: a bug in how a panel reads an answer stops that
    panel's worker, is said, and the app and the other panels go on."""
    from tui.widgets import status_panel

    def broken(data: Any) -> Any:
        raise RuntimeError("a bug in reading the status")

    monkeypatch.setattr(status_panel, "status_view", broken)

    async def run() -> None:
        app = make_app(stand_in)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: any(
                "a panel stopped on an unexpected error (RuntimeError: a bug in reading the "
                "status)" in n.message for n in app._notifications))
            assert app.is_running
            await pilot.press("2")
            await wait_for(pilot, lambda: app.query_one("#releases-table", DataTable)
                           .row_count == 1)

    asyncio.run(run())


def test_the_status_panel_and_its_prefetch_leave_the_cluster_alone(stand_in: StandIn) -> None:
    """The panel polls the status every second and shows no cluster line: it never asks for
    one (``?cluster=1`` makes platd ask gossip), nor does bare plat's first-frame prefetch."""
    from tui.tui_client import Prefetch

    url = f"http://127.0.0.1:{stand_in.server_address[1]}"
    early = Prefetch(url, "plat_stand-in", TARGET).peek(10)
    assert early is not None
    assert early[0], early

    async def run() -> None:
        app = make_app(stand_in)
        async with app.run_test(size=(120, 30)) as pilot:
            await wait_for(pilot, lambda: sum(
                urlsplit(p).path == f"{ENV}/status" for p in stand_in.paths) >= 3, timeout=30)

    asyncio.run(run())
    status_reads = [p for p in stand_in.paths if urlsplit(p).path == f"{ENV}/status"]
    assert len(status_reads) >= 3
    assert all("cluster" not in parse_qs(urlsplit(p).query) for p in status_reads), status_reads
