"""The TUI: time to the first painted screen, and the log rate the Logs pane sustains while
staying responsive.

1. First paint, in a real terminal. tmux starts bare ``plat`` (against a real platd, fake
   runtime, one deployed env) in a new window and ``capture-pane`` polls it every 5 ms:
   - "chrome": the tab bar is on the screen;
   - "status": the env's instance rows are on it (the first answer from platd is drawn);
   - "app": the footer's keys are on it (Textual is up and drawing: the frame painted before
     Textual is imported, ``tui/prepaint.py``, leaves the footer's bar empty as Textual's first
     frame does).
   Reference, in the same terminal and the same way: ``plat status`` until its rows show.
2. Logs under load. The app runs headless in this process (``app.run_test``, 120x40, Logs
   tab). A log source offers lines at a fixed rate for ``--seconds``; meanwhile a separate
   thread injects a key every 100 ms and times how long the app takes to handle it (the key's
   action records when it ran). Per offered rate: lines the pane actually took per second, and
   key latency p50 / p99 / max. "sustained" = the pane kept up (>= 95% of the offered rate)
   and p99 key latency <= 100 ms. Sources:
   - ``synthetic`` (default): a client that answers the logs API's long poll from a generator
     at the offered rate, in process, so the number is the TUI's own ceiling;
   - ``docker``: a real platd (Docker runtime) following a busybox container that prints
     rate/10 lines every 100 ms, so the number is the whole path on this machine.

Goal (issue 9): 5,000 lines/s with input handled within 100 ms. Nothing here asserts.
Run: .venv/bin/python bench/tui.py [--parts paint,logs] [--runs 7] [--rates 1000,5000,20000]
         [--seconds 5] [--source synthetic|docker] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from _common import ROOT, Daemon, median_of, parse_args, print_grid, print_table, running_daemon

PLAT = str(Path(sys.executable).parent / "plat")
TARGET = "bench/tui/hello/prod"
MANIFEST = """app = "hello"
[workloads.web]
image = "127.0.0.1:5000/hello:v1"
count = 2
cpu = 0.1
memory = "32M"
min_ready = "1s"  # not a readiness test: the 10 s default would only slow it
"""
DOCKER_MANIFEST = """app = "hello"
[workloads.web]
image = "127.0.0.1:5000/busybox:latest"
command = ["sh", "-c", "while true; do seq 1 {per_tick}; usleep 100000; done"]
count = 1
cpu = 1.0
memory = "64M"
min_ready = "1s"  # not a readiness test: the 10 s default would only slow it
"""


# --- 1. first paint in tmux ---------------------------------------------------------------------


def _deploy(d: Daemon, manifest: str, tmp: Path) -> None:
    d.make_env(TARGET)
    path = tmp / "plat.toml"
    path.write_text(manifest)
    r = d.plat("deploy", "-f", str(path), "--target", TARGET, "--detach")
    if r.code != 0:
        raise SystemExit(f"deploy failed: {r.out}{r.err}")


def first_paint(runs: int) -> None:
    with running_daemon("fake") as (d, tmp):
        socket = f"plat-bench-{os.getpid()}"

        def tmux(*args: str) -> str:
            return subprocess.run(["tmux", "-L", socket, *args], check=True,
                                  capture_output=True, text=True).stdout

        try:
            _deploy(d, MANIFEST, tmp)
            for _ in range(100):
                if d.plat("status", "--target", TARGET).out.count("running") >= 2:
                    break
                time.sleep(0.1)
            env = {**d.env(PLAT_TARGET=TARGET), "TERM": "xterm-256color"}
            exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()
                               if k.startswith(("PLAT_", "TERM", "PATH", "HOME", "LANG")))
            tmux("new-session", "-d", "-x", "120", "-y", "40", "sleep 100000")

            def timed_window(command: str, marks: dict[str, str]) -> dict[str, float]:
                start = time.perf_counter()
                window = tmux("new-window", "-d", "-P", "-F", "#{window_id}",
                              f"env {exports} {command}; sleep 100000").strip()
                seen: dict[str, float] = {}
                deadline = start + 30
                while len(seen) < len(marks) and time.perf_counter() < deadline:
                    screen = tmux("capture-pane", "-p", "-t", window)
                    now = time.perf_counter()
                    for name, text in marks.items():
                        if name not in seen and text in screen:
                            seen[name] = now - start
                    time.sleep(0.005)
                if len(seen) < len(marks):
                    missing = ", ".join(repr(marks[m]) for m in marks if m not in seen)
                    raise SystemExit(f"{command}: {missing} not on the screen within 30 s; it "
                                     f"shows:\n{screen}")
                tmux("kill-window", "-t", window)
                return seen

            samples: dict[str, list[float]] = {"chrome": [], "status": [], "app": [], "cli": []}
            timed_window(PLAT, {"chrome": "Releases"})  # warm-up: caches, bytecode
            for _ in range(runs):
                got = timed_window(PLAT, {"chrome": "Releases", "status": "healthy",
                                          "app": "Commands"})
                for name in ("chrome", "status", "app"):
                    samples[name].append(got[name])
                samples["cli"].append(timed_window(f"{PLAT} status", {"cli": "healthy"})["cli"])
            ref = median_of(samples["cli"])
            print_table(f"First paint of bare plat in tmux (120x40), median of {runs}; ratio to "
                        "`plat status` showing the same rows", [
                            ("plat status: rows on screen (reference)", ref, None, ""),
                            ("plat (TUI): tab bar painted", median_of(samples["chrome"]), ref,
                             ""),
                            ("plat (TUI): Status rows painted", median_of(samples["status"]),
                             ref, ""),
                            ("plat (TUI): Textual up (footer keys)", median_of(samples["app"]),
                             ref, ""),
                        ])
        finally:
            subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)


# --- 2. the Logs pane under load --------------------------------------------------------------


class SyntheticLogs:
    """Lines produced at ``rate`` per second from the first follow on; shared by all clients."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.started: float | None = None
        self.lock = threading.Lock()

    def produced(self) -> int:
        with self.lock:
            if self.started is None:
                self.started = time.perf_counter()
            return int((time.perf_counter() - self.started) * self.rate)


class SyntheticClient:
    """Answers the routes the app polls; ``/logs`` long-polls the synthetic source."""

    def __init__(self, source: SyntheticLogs) -> None:
        self.source = source
        self.closed = False

    def env_path(self, target: str, rest: str = "") -> str:
        return f"/v1/envs/{target}{rest}"

    def abort(self) -> None:
        self.closed = True

    def request(self, method: str, path: str, body: Any = None, *,
                query: dict[str, Any] | None = None, **_: Any) -> Any:
        from platd.spec.errors import DaemonUnreachable

        if self.closed:
            raise DaemonUnreachable("closed")
        query = query or {}
        if path.endswith("/logs"):
            after = query.get("after")
            if after is None:
                return {"target": TARGET, "lines": [], "cursor": 0, "more": False,
                        "before": None}
            deadline = time.perf_counter() + float(query.get("wait") or 0)
            while (top := self.source.produced()) <= after and time.perf_counter() < deadline:
                time.sleep(0.002)
            n = min(top - after, int(query.get("limit") or 1000))
            now = time.time()
            lines = [{"seq": after + i + 1, "at": now, "source": "app", "workload": "web",
                      "instance": "4kq2m8x1zt", "release": "r", "stream": "stdout",
                      "severity": "error" if (after + i) % 100 == 0 else "info",
                      "message": f"GET /api/items/{after + i} served in {(after + i) % 89} ms",
                      "partial": False} for i in range(max(n, 0))]
            return {"target": TARGET, "lines": lines, "cursor": after + max(n, 0)}
        # Every other route answers as a platd with nothing in the env does.
        if path.endswith("/endpoints"):
            return {"target": TARGET, "endpoints": []}
        if path.endswith("/volumes"):
            return {"target": TARGET, "unavailable": None, "volumes": []}
        if path.endswith("/status"):
            return {"target": TARGET, "release": None, "workloads": []}
        if path.endswith("/releases"):
            return {"target": TARGET, "releases": []}
        if path.endswith("/events"):
            time.sleep(min(float(query.get("wait") or 0), 1.0))
            return {"target": TARGET, "events": [], "cursor": int(query.get("after") or 0)}
        return {}


def _app_class() -> Any:
    from textual.binding import Binding

    from tui.app import PlatApp

    class ProbedApp(PlatApp):
        """PlatApp plus one key whose action notes when it ran."""

        BINDINGS = [*PlatApp.BINDINGS, Binding("ctrl+t", "probe", show=False, priority=True)]
        handled: list[float] = []

        def action_probe(self) -> None:
            self.handled.append(time.perf_counter())

    return ProbedApp


async def _measure(app: Any, seconds: float) -> tuple[float, list[float]]:
    from textual import events

    from tui.widgets.logs_panel import LogsPanel

    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await pilot.pause(0.5)
        panel = app.query_one(LogsPanel)
        loop = asyncio.get_running_loop()
        sent: list[float] = []
        stop = threading.Event()

        def prober() -> None:
            while not stop.wait(0.1):
                sent.append(time.perf_counter())
                loop.call_soon_threadsafe(app.post_message, events.Key("ctrl+t", None))

        base, started = panel.received, time.perf_counter()
        thread = threading.Thread(target=prober, daemon=True)
        thread.start()
        await asyncio.sleep(seconds)
        stop.set()
        thread.join()
        took = panel.received - base
        elapsed = time.perf_counter() - started
        await pilot.pause(0.5)
        handled = app.handled[-len(sent):] if app.handled else []
        latencies = [h - s for s, h in zip(sent, handled, strict=False)]
        missing = len(sent) - len(handled)
        latencies += [float("inf")] * max(missing, 0)
        return took / elapsed, latencies


def logs_under_load(rates: list[int], seconds: float, source: str) -> None:
    from tui.client import Client

    rows = []
    for rate in rates:
        cls = _app_class()
        cls.handled = []
        if source == "synthetic":
            logs = SyntheticLogs(rate)
            app = cls(lambda logs=logs: SyntheticClient(logs), "synthetic", TARGET)
            shown, lat = asyncio.run(_measure(app, seconds))
        else:
            with running_daemon("docker") as (d, tmp):
                _deploy(d, DOCKER_MANIFEST.format(per_tick=max(rate // 10, 1)), tmp)
                time.sleep(3)  # the container is up and printing
                app = cls(lambda d=d: Client(d.url, d.token), d.url, TARGET, token=d.token)
                shown, lat = asyncio.run(_measure(app, seconds))
        lat.sort()
        p50 = statistics.median(lat) if lat else float("nan")
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
        worst = lat[-1] if lat else float("nan")
        ok = shown >= 0.95 * rate and p99 <= 0.100
        rows.append((rate, shown, p50, p99, worst, ok))

    print_grid(f"Logs pane under load ({source} source, {seconds:g} s per rate, 120x40, a key "
               "every 100 ms)",
               ("offered lines/s", "shown lines/s", "key p50 ms", "key p99 ms", "key max ms",
                "sustained"),
               [(f"{rate:,}", f"{shown:,.0f}", f"{p50 * 1000:.1f}", f"{p99 * 1000:.1f}",
                 f"{worst * 1000:.1f}", "yes" if ok else "no")
                for rate, shown, p50, p99, worst, ok in rows])
    best = max((r[0] for r in rows if r[5]), default=None)
    print(f"highest offered rate sustained: {best:,} lines/s" if best else
          "no offered rate was sustained")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="paint,logs")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--rates", default="1000,2000,5000,10000,20000,40000")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--source", choices=("synthetic", "docker"), default="synthetic")
    args = parse_args(parser, quick={"runs": 1, "rates": "1000", "seconds": 1.0})
    os.chdir(ROOT)
    parts = args.parts.split(",")
    if "paint" in parts:
        first_paint(args.runs)
    if "logs" in parts:
        logs_under_load([int(r) for r in args.rates.split(",")], args.seconds, args.source)


if __name__ == "__main__":
    main()
