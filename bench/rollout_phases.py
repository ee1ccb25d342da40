"""Where `plat deploy` x1 and `plat rollback` spend their time, phase by phase, beside the
`docker run` floor split the same way, all in one run.

bench/deploy.py and bench/rollback.py say how long; this says where. platd and plat run through
bench/_trace.py, which wraps a few of their functions to write wall-clock marks to one file
(request sent and answered, release committed, reconciler pass, docker create and start, each
health probe, release marked converged, process start and exit); each phase is the time between
two marks, and the phases add up to the whole command. The docker floor (with the manifest's
cpu and memory limits, on a user-defined bridge network, as in bench/deploy.py) is split into
`docker run -d`, `docker port` and health polls every 50 ms.

The rollback is timed twice: once v2's deploy has settled (the v1 instance it replaced is
stopped and removed, as bench/rollback.py times it), and right after `plat deploy` of v2 returned,
while the engine still stops that instance; the row "(beside) the engine stopping or removing
another instance" says how much of create + start ran beside such a stop.

Tracing adds a few milliseconds (a file append per mark); compare phases, and take the totals
from bench/deploy.py and bench/rollback.py. A phase whose marks are missing (a wrapped function
was renamed) shows "-". Nothing here asserts.
Run: .venv/bin/python bench/rollout_phases.py [--runs 7] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import _trace
from _common import (
    Daemon,
    parse_args,
    print_grid,
    remove_containers,
    running_daemon,
    wait_containers,
    wait_no_containers,
)
from deploy import IMAGE, LIMITS, bridge_network, healthy, manifest

from tests.conftest import wait_until_responsive

TRACER = str(Path(__file__).resolve().parent / "_trace.py")
IMAGE_V2 = "127.0.0.1:5000/hello:v2"
Marks = list[dict[str, Any]]


class TracedDaemon(Daemon):
    """platd started through bench/_trace.py, marking into ``trace`` beside its data."""

    @property
    def trace(self) -> Path:
        return self.data.parent / "trace.jsonl"

    def start(self) -> None:
        self.log_path = self.data.parent / f"platd-{self.port}.log"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, TRACER, "platd", "serve", "--data", str(self.data), "--listen",
                 f"127.0.0.1:{self.port}", "--runtime", self.runtime],
                stdout=log, stderr=log, start_new_session=True,
                env={**os.environ, "PLAT_TRACE_FILE": str(self.trace)})
        wait_until_responsive(f"{self.url}/v1/health", proc=self.proc)


def traced_plat(d: TracedDaemon, *args: str) -> Marks:
    """Run plat traced; the marks from its spawn to its exit, platd's included."""
    trace = d.trace
    before = trace.stat().st_size if trace.exists() else 0
    _trace.FILE, _trace.PROGRAM = str(trace), "bench"
    _trace.mark("spawn")
    r = subprocess.run([sys.executable, TRACER, "plat", *args],
                       env=d.env(PLAT_TRACE_FILE=str(trace)),
                       capture_output=True, text=True, timeout=300)
    _trace.mark("done")
    if r.returncode != 0:
        raise SystemExit(f"plat {' '.join(args)} failed ({r.returncode}): {r.stdout}{r.stderr}")
    with open(trace, "rb") as f:
        f.seek(before)
        return [json.loads(line) for line in f.read().splitlines()]


def _ok(r: Any) -> None:
    if r.code != 0:
        raise SystemExit(f"plat failed ({r.code}): {r.out}{r.err}")


# --- phases -------------------------------------------------------------------------------------


class Timeline:
    """Finds marks by name, in order, each search starting where the previous one ended."""

    def __init__(self, marks: Marks) -> None:
        self.marks = marks

    def first(self, name: str, after: float | None, **match: Any) -> float | None:
        if after is None:
            return None
        for m in self.marks:
            if m["n"] == name and m["t"] >= after and all(m.get(k) == v for k, v in match.items()):
                return float(m["t"])
        return None

    def last(self, name: str, before: float | None) -> float | None:
        if before is None:
            return None
        found = [float(m["t"]) for m in self.marks if m["n"] == name and m["t"] <= before]
        return found[-1] if found else None

    def count(self, name: str, start: float | None, end: float | None) -> int | None:
        if start is None or end is None:
            return None
        return sum(1 for m in self.marks if m["n"] == name and start <= m["t"] <= end)


def _span(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def _engine_busy(marks: Marks, start: float | None, end: float | None) -> float | None:
    """Seconds of ``start``..``end`` in which platd had a stop or a remove under way in the
    engine (one that began before the marks, the plat command's spawn, counts from there)."""
    if start is None or end is None:
        return None
    spans: list[tuple[float, float]] = []
    for call in ("docker_stop", "docker_remove"):
        began: list[float] = []
        for m in marks:
            if m["n"] == call + ">":
                began.append(float(m["t"]))
            elif m["n"] == call + "<":
                spans.append((began.pop(0) if began else float("-inf"), float(m["t"])))
        spans += [(b, float("inf")) for b in began]
    busy, reached = 0.0, start
    for a, b in sorted(spans):
        a, b = max(a, reached), min(b, end)
        if b > a:
            busy += b - a
            reached = b
    return busy


# The rows not indented follow one another and add up to the total; indented rows are parts of
# the row above or happen beside it.
PHASES = [
    "plat: interpreter start",
    "plat: imports, arguments, manifest",
    "plat: gate reads before the POST (config, secrets)",
    "POST sent -> release committed",
    "  platd: registry resolve (tag -> digest)",
    "  platd: release written (commit_deploy / rollback)",
    "  (beside) commit -> receipt read by plat",
    "release committed -> docker create",
    "  of which waiting for a pass to start",
    "docker create + start",
    "  docker create",
    "  (beside) the engine stopping or removing another instance",
    "started -> first health probe",
    "first probe -> healthy probe",
    "healthy -> converged committed",
    "converged -> plat has the event (long poll)",
    "plat: GET of the release after the event",
    "plat: print, return",
    "plat: interpreter exit",
    "total",
]


def phases(marks: Marks, post: str) -> tuple[dict[str, float | None], int | None]:
    """Each phase's seconds (None: its marks are missing) and the number of health probes."""
    tl = Timeline(marks)
    spawn = tl.first("spawn", 0.0)
    started = next((float(m["at"]) for m in marks if m["n"] == "started" and m["p"] == "plat"),
                   None)
    first_request = tl.first("request>", started)
    post_sent = tl.first("request>", started, path=post)
    post_read = tl.first("request<", post_sent, path=post)
    committed = tl.first("commit", post_sent)
    create = tl.first("docker_create>", committed)
    # The pass that creates may have started before the commit (it reads desired state after
    # observing the engine): then there was no wait for one.
    pass_starts = tl.last("pass>", create)
    wake = (None if create is None or committed is None
            else max(0.0, (pass_starts or committed) - committed))
    created = tl.first("docker_create<", create)
    running = tl.first("docker_start<", create)
    probe = tl.first("probe>", running)
    healthy_at = tl.first("probe<", probe, ok=True)
    # The verdict is written on its own (mark) or with the pass's instance rows.
    verdict = [t for t in (tl.first("mark>", healthy_at, status="converged"),
                           tl.first("write_instances>", healthy_at, status="converged"))
               if t is not None]
    converged = tl.first("commit", min(verdict) if verdict else None)
    seen = tl.first("request<", converged, path="GET events wait")
    followed_by = tl.first("request>", seen)
    concluded = tl.first("request<", followed_by) if followed_by is not None else seen
    exited = tl.first("exit", seen)
    done = tl.first("done", exited)
    write = "commit_deploy" if post == "POST deploy" else "rollback"
    resolve = (_span(tl.first("registry_resolve>", post_sent),
                     tl.first("registry_resolve<", post_sent))
               if post == "POST deploy" else 0.0)
    out = dict(zip(PHASES, [
        _span(spawn, started),
        _span(started, first_request),
        _span(first_request, post_sent),
        _span(post_sent, committed),
        resolve,
        _span(tl.first(write + ">", post_sent), tl.first(write + "<", post_sent)),
        _span(committed, post_read),
        _span(committed, create),
        wake,
        _span(create, running),
        _span(create, created),
        _engine_busy(marks, create, running),
        _span(running, probe),
        _span(probe, healthy_at),
        _span(healthy_at, converged),
        _span(converged, seen),
        _span(seen, concluded),
        _span(concluded, exited),
        _span(exited, done),
        _span(spawn, done),
    ], strict=True))
    return out, tl.count("probe>", running, healthy_at)


# --- the floor ----------------------------------------------------------------------------------


def floor_split(network: str) -> dict[str, float]:
    """`docker run -d` with the manifest's limits on ``network``, `docker port`, health polls
    every 50 ms."""
    start = time.perf_counter()
    cid = subprocess.run(["docker", "run", "-d", "--label", "plat-bench=1", "-e", "GREETING=x",
                          "-p", "127.0.0.1::8080", *LIMITS, "--network", network,
                          "--network-alias", "web", IMAGE],
                         capture_output=True, text=True, check=True).stdout.strip()
    ran = time.perf_counter()
    out = subprocess.run(["docker", "port", cid, "8080/tcp"], capture_output=True, text=True,
                         check=True).stdout
    port = int(out.split(":")[-1])
    ported = time.perf_counter()
    deadline = ported + 60
    while not healthy(port) and time.perf_counter() < deadline:
        time.sleep(0.05)
    end = time.perf_counter()
    subprocess.run(["docker", "rm", "-f", cid], capture_output=True)
    return {"docker run -d (its CLI, create, start)": ran - start,
            "docker port (its CLI)": ported - ran,
            "health polls until 200": end - ported,
            "total": end - start}


# --- output -------------------------------------------------------------------------------------


def _ms(values: Sequence[float | None]) -> str:
    known = [v for v in values if v is not None]
    if len(known) < len(values) or not known:
        return "-"
    return f"{statistics.median(known) * 1000:.1f}"


def _spread(values: Sequence[float | None]) -> str:
    known = sorted(v * 1000 for v in values if v is not None)
    return f"{known[0]:.0f}-{known[-1]:.0f}" if len(known) > 1 else ""


def report(runs: int, columns: dict[str, list[dict[str, float | None]]],
           probes: dict[str, list[int | None]], floors: list[dict[str, float]]) -> None:
    print(f"host: {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f}")
    header = ["phase"]
    for name in columns:
        header += [name, "range"]
    print_grid(f"Phases of plat deploy x1 and plat rollback v2 -> v1 (once v2's deploy settled, "
               f"and right after it returned), to healthy; median ms of {runs} run(s) (range); "
               f"indented rows are not added to the total",
               tuple(header),
               [(name, *[cell for runs_of in columns.values()
                         for cell in (_ms([r[name] for r in runs_of]),
                                      _spread([r[name] for r in runs_of]))])
                for name in PHASES]
               + [("health probes sent until healthy",
                   *[cell for name in columns for cell in (_count(probes[name]), "")])])
    names = list(floors[0])
    print_grid(f"The floor split the same way: docker run x1 with the same limits, on a "
               f"user-defined bridge; median ms of "
               f"{runs}", ("phase", "floor", "range"),
               [(name, _ms([f[name] for f in floors]), _spread([f[name] for f in floors]))
                for name in names])


def _count(values: Sequence[int | None]) -> str:
    known = [v for v in values if v is not None]
    return f"{statistics.median(known):g}" if known and len(known) == len(values) else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parse_args(parser, quick={"runs": 1})
    columns: dict[str, list[dict[str, float | None]]] = {
        "deploy x1": [], "rollback": [], "right after": []}
    probes: dict[str, list[int | None]] = {name: [] for name in columns}
    floors: list[dict[str, float]] = []
    with running_daemon("docker", kind=TracedDaemon) as (d, tmp), bridge_network() as network:
        assert isinstance(d, TracedDaemon)
        one = manifest(tmp / "one.toml", 1)
        try:
            for n in range(args.runs):
                floors.append(floor_split(network))
                target = d.make_env(f"bench/shop/hello/deploy{n}")
                marks = traced_plat(d, "deploy", "-f", str(one), "--target", target)
                got, count = phases(marks, "POST deploy")
                columns["deploy x1"].append(got)
                probes["deploy x1"].append(count)
                back = d.make_env(f"bench/shop/hello/rollback{n}")
                _ok(d.plat("deploy", "-f", str(one), "--target", back))
                wait_containers(d, 2)  # the deploy x1 above and this one
                for column in ("rollback", "right after"):
                    _ok(d.plat("deploy", "-f", str(one), "--image", IMAGE_V2, "--target", back))
                    if column == "rollback":
                        wait_containers(d, 2)  # v2's deploy settled: its v1 instance removed
                    marks = traced_plat(d, "rollback", "v1", "--target", back)
                    got, count = phases(marks, "POST rollback")
                    columns[column].append(got)
                    probes[column].append(count)
                    wait_containers(d, 2)
                for env in (target, back):
                    d.plat("envs", "delete", env, "--yes")
                wait_no_containers(d)
        finally:
            remove_containers("plat-bench=1")
    report(args.runs, columns, probes, floors)


if __name__ == "__main__":
    main()
