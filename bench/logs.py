"""Logs: ingestion rate, filtered pages over 1,000,000 lines, follow latency; each beside the
Docker engine doing the same thing in the same run.

1. Ingestion. A container prints N numbered lines as fast as it can (busybox ``seq``).
   - engine intake (reference): N over the span of the engine's own timestamps of the first
     and the last line, i.e. how fast dockerd took the output in;
   - plat: N over the time from the first line's engine timestamp until the Nth line is
     committed to platd's log store; then every number is checked to be there exactly once;
   - also shown: platd's CPU time per line while it ingested.
2. Query. A container prints 1,000,000 lines (1% of them ERROR). Pages of 100 lines are asked of
   platd's API (what ``plat logs`` fetches) with several filters; the reference is the same
   question put to the engine: ``docker logs CID | grep ERROR | tail -n 100`` and
   ``docker logs --tail 100 CID``.
3. Follow latency. A container prints a line every 100 ms; ``plat logs --follow --json`` and
   ``docker logs -f --timestamps`` follow it at the same time; latency is the time a line
   arrives on the follower's stdout minus the engine's timestamp of it.

Goals (issue 5): ingestion >= 50,000 lines/s and no loss; a filtered page < 50 ms median;
follow < 100 ms median. Nothing here asserts: it prints a table.
Run: .venv/bin/python bench/logs.py [--lines 300000] [--big 1000000] [--runs 11]
         [--parts ingest,query,follow] [--quick]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sqlite3
import statistics
import subprocess
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from _common import ROOT, Daemon, parse_args, print_grid, running_daemon, wait_no_containers

from platd.runtime.docker_log_lines import parse_ns

BUSYBOX = "127.0.0.1:5000/busybox:latest"
BIG_SCRIPT = (
    "awk 'BEGIN { for (i = 0; i < {n}; i++) { if (i % 100 == 0) "
    "printf \"ERROR request %d failed: upstream timed out after 30s\\n\", i; else "
    "printf \"INFO request %d served GET /api/items/%d in %d ms\\n\", i, i % 977, i % 89 } }'; "
    "exec sleep 1000000"
)
TICK = "trap 'exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); usleep 100000; done"


# --- plumbing ---------------------------------------------------------------------------------


def deploy(d: Daemon, target: str, workload: str, script: str) -> None:
    parts = target.split("/")
    for depth, plural in enumerate(("orgs", "projects", "apps", "envs"), start=1):
        d.api("POST", f"/v1/tree/{plural}", {"path": "/".join(parts[:depth])})
    manifest = (f'app = "{parts[2]}"\n[workloads.{workload}]\nimage = "{BUSYBOX}"\n'
                f"command = {json.dumps(['sh', '-c', script])}\n"
                'count = 1\ncpu = 1\nmemory = "64M"\nmin_ready = "1s"\n')
    status, body = d.api("POST", f"/v1/envs/{target}/deploy", {"manifest": manifest})
    if status >= 300:
        raise SystemExit(f"deploy of {target} failed: {body}")


def container_of(d: Daemon, workload: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ids = subprocess.run(
            ["docker", "ps", "-q", "--filter", f"label=dev.plat.host={d.host_id}",
             "--filter", f"label=dev.plat.workload={workload}"],
            capture_output=True, text=True, check=True).stdout.split()
        if ids:
            return ids[0]
        time.sleep(0.05)
    raise SystemExit(f"no running container for {workload}")


def engine_span(cid: str) -> tuple[int, int, int]:
    """(lines, first ns, last ns) of the container's json-file log, as the engine wrote it."""
    path = subprocess.run(["docker", "inspect", "-f", "{{.LogPath}}", cid], capture_output=True,
                          text=True, check=True).stdout.strip()
    with open(path, "rb") as f:
        first = json.loads(f.readline())["time"]
        count = 1 + sum(1 for _ in f)
        f.seek(max(0, os.path.getsize(path) - 4096))
        last = json.loads(f.read().splitlines()[-1])["time"]
    return count, parse_ns(first), parse_ns(last)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def logs_db(d: Daemon) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{d.data / 'logs.db'}?mode=ro", uri=True, isolation_level=None)


def instance_of(d: Daemon, target: str) -> str:
    """The env's one instance, once the reconciler has recorded it."""
    while True:
        _, body = d.api("GET", f"/v1/envs/{target}/status")
        found = [i["id"] for w in body["workloads"] for i in w["instances"]
                 if i["state"] == "running"]
        if found:
            return str(found[0])
        time.sleep(0.05)


def env_key(conn: sqlite3.Connection, d: Daemon, target: str) -> int:
    instance = instance_of(d, target)
    while True:
        row = conn.execute("SELECT env FROM names WHERE kind = 2 AND name = ?",
                           (instance,)).fetchone()
        if row:
            return int(row[0])
        time.sleep(0.01)


def median(xs: list[float]) -> float:
    return statistics.median(xs)


# --- 1. ingestion -----------------------------------------------------------------------------


def ingest_once(d: Daemon, n: int, run: int) -> dict[str, float]:
    target = f"bench/logs/ingest/r{run}"
    assert d.proc is not None
    cpu0 = cpu_seconds(d.proc.pid)
    # The shell stays PID 1 and exits on SIGTERM: a bare `sleep` as PID 1 ignores it, and each
    # scale-down below would wait out Docker's 10 s stop timeout.
    deploy(d, target, "flood", f"trap 'exit 0' TERM; seq 1 {n}; sleep 1000000 & wait")
    cid = container_of(d, "flood")
    conn = logs_db(d)
    env = env_key(conn, d, target)
    last = str(n)
    while True:
        row = conn.execute("SELECT message FROM lines WHERE +env = ? AND source = 0 "
                           "ORDER BY seq DESC LIMIT 1", (env,)).fetchone()
        if row and row[0] == last:
            done = time.time_ns()
            break
        time.sleep(0.01)
    cpu = cpu_seconds(d.proc.pid) - cpu0
    count, distinct, low, high = conn.execute(
        "SELECT COUNT(*), COUNT(DISTINCT message), MIN(CAST(message AS INTEGER)), "
        "MAX(CAST(message AS INTEGER)) FROM lines WHERE env = ? AND source = 0", (env,)).fetchone()
    conn.close()
    lines, first, last_ns = engine_span(cid)
    complete = (low, high) == (1, n)
    d.api("POST", f"/v1/envs/{target}/scale", {"workload": "flood", "count": 0})
    wait_no_containers(d)
    return {"plat": n / ((done - first) / 1e9),
            "engine": lines / max((last_ns - first) / 1e9, 1e-9),
            "lost": float(n - distinct if complete else n), "duplicated": float(count - distinct),
            "cpu_us": cpu / n * 1e6}


def docker_read_rate(cid: str, n: int) -> float:
    start = time.perf_counter()
    subprocess.run(f"docker logs {cid} | wc -l", shell=True, capture_output=True, check=True)
    return n / (time.perf_counter() - start)


# --- 2. queries over a million lines ----------------------------------------------------------


class Api:
    """Keep-alive GETs, as ``plat logs`` makes them."""

    def __init__(self, d: Daemon) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=60)
        self.headers = {"Authorization": f"Bearer {d.token}", "Accept": "application/json"}

    def get(self, path: str, **query: Any) -> tuple[float, dict[str, Any]]:
        start = time.perf_counter()
        self.conn.request("GET", f"{path}?{urlencode(query)}", headers=self.headers)
        response = self.conn.getresponse()
        body = json.loads(response.read())
        elapsed = time.perf_counter() - start
        if response.status != 200:
            raise SystemExit(f"GET {path} {query}: {body}")
        return elapsed, body


def load_big(d: Daemon, n: int) -> tuple[str, str, float]:
    target = "bench/logs/big/prod"
    print(f"storing {n:,} lines (a container printing them, platd ingesting)...", flush=True)
    start = time.perf_counter()
    deploy(d, target, "big", BIG_SCRIPT.replace("{n}", str(n)))
    cid = container_of(d, "big")
    conn = logs_db(d)
    env = env_key(conn, d, target)
    while conn.execute("SELECT COUNT(*) FROM lines WHERE env = ? AND source = 0",
                       (env,)).fetchone()[0] < n:
        time.sleep(0.5)
    conn.close()
    return target, cid, time.perf_counter() - start


QueryRow = tuple[str, float, float, float | None, str]  # what, median, best, reference, goal


def query_rows(d: Daemon, target: str, cid: str, runs: int) -> list[QueryRow]:
    api = Api(d)
    path = f"/v1/envs/{target}/logs"
    instance = instance_of(d, target)
    conn = logs_db(d)
    env = env_key(conn, d, target)
    low, high = conn.execute("SELECT MIN(ts), MAX(ts) FROM lines WHERE env = ? AND source = 0",
                             (env,)).fetchone()
    conn.close()
    # A window in the middle of the data: its second tenth.
    since, until = (low + (high - low) * 0.1) / 1e9, (low + (high - low) * 0.2) / 1e9
    cases = [
        ("newest 100 lines, no filter", {}),
        ("--severity error (1% of lines)", {"severity": "error"}),
        ("--instance I", {"instance": instance}),
        ("--workload W --severity error", {"workload": "big", "severity": "error"}),
        ("--since/--until a window mid-way", {"since": str(since), "until": str(until)}),
        ("--severity error in that window", {"severity": "error", "since": str(since),
                                             "until": str(until)}),
        ("--source system (rare lines)", {"source": "system"}),
    ]
    rows: list[QueryRow] = []
    greps = [_time_shell(f"docker logs {cid} 2>&1 | grep ERROR | tail -n 100")
             for _ in range(max(2, runs // 4))]
    tails = [_time_shell(f"docker logs --tail 100 {cid}") for _ in range(runs)]
    reference, tail_ref = median(greps), median(tails)
    rows.append(("docker logs | grep ERROR | tail -n 100", reference, min(greps), None,
                 "reference"))
    rows.append(("docker logs --tail 100", tail_ref, min(tails), None, "reference"))
    for what, query in cases:
        api.get(path, limit=100, **query)  # warms the page cache
        samples = [api.get(path, limit=100, **query)[0] for _ in range(runs)]
        ref = tail_ref if not query else reference
        rows.append((f"plat: {what}", median(samples), min(samples), ref, "< 50 ms"))
    return rows


def _time_shell(command: str) -> float:
    start = time.perf_counter()
    subprocess.run(command, shell=True, capture_output=True, check=True)
    return time.perf_counter() - start


# --- 3. follow latency ------------------------------------------------------------------------


def follow_latency(d: Daemon, samples: int) -> tuple[list[float], list[float]]:
    target = "bench/logs/tick/prod"
    deploy(d, target, "tick", TICK)
    cid = container_of(d, "tick")
    plat = subprocess.Popen([str(ROOT / ".venv/bin/plat"), "logs", "--follow", "--json",
                             "--workload", "tick", "--source", "app", "--limit", "1",
                             "--target", target], env=d.env(), stdout=subprocess.PIPE, text=True)
    docker = subprocess.Popen(["docker", "logs", "-f", "--timestamps", "--tail", "0", cid],
                              stdout=subprocess.PIPE, text=True)
    plat_lat: list[float] = []
    docker_lat: list[float] = []

    def read_plat() -> None:
        assert plat.stdout is not None
        for line in plat.stdout:
            arrived = time.time_ns()
            plat_lat.append((arrived - json.loads(line)["ts_ns"]) / 1e9)

    def read_docker() -> None:
        assert docker.stdout is not None
        for line in docker.stdout:
            arrived = time.time_ns()
            docker_lat.append((arrived - parse_ns(line.split(" ", 1)[0])) / 1e9)

    threads = [threading.Thread(target=read_plat, daemon=True),
               threading.Thread(target=read_docker, daemon=True)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + samples * 0.1 * 4 + 30
    while len(plat_lat) <= samples or len(docker_lat) < samples:
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    plat.terminate()
    docker.terminate()
    plat.wait()
    docker.wait()
    return plat_lat[1:samples + 1], docker_lat[:samples]  # plat's first line is history


# --- output -----------------------------------------------------------------------------------


HEADER = ("what", "plat", "reference", "ratio", "goal")


def ingestion(d: Daemon, args: argparse.Namespace, summary: dict[str, Any]) -> None:
    runs = [ingest_once(d, args.lines, r) for r in range(args.ingest_runs)]
    plat_rate = median([r["plat"] for r in runs])
    engine_rate = median([r["engine"] for r in runs])
    lost = sum(r["lost"] for r in runs)
    duplicated = sum(r["duplicated"] for r in runs)
    cpu = median([r["cpu_us"] for r in runs])
    print_grid(f"1. Ingestion: {args.lines:,} lines as fast as a container prints them, "
               f"{len(runs)} runs (medians)", HEADER, [
                   ("plat: lines/s stored", f"{plat_rate:,.0f}", f"{engine_rate:,.0f}",
                    f"{plat_rate / engine_rate:.2f}x", ">= 50,000/s"),
                   ("  reference: the engine's own intake (json-file)", "", "", "", ""),
                   ("plat: lines lost, all runs", f"{lost:.0f}", "", "", "0"),
                   ("plat: lines stored twice, all runs", f"{duplicated:.0f}", "", "", "0"),
                   ("platd CPU per line (all of platd)", f"{cpu:.1f} us", "", "", ""),
                   ("  i.e. lines/s one free core could take", f"{1e6 / cpu:,.0f}", "", "", ""),
               ])
    summary.update(ingest_lines_per_s=round(plat_rate), engine_lines_per_s=round(engine_rate),
                   lost=lost, duplicated=duplicated, cpu_us_per_line=round(cpu, 2))


def queries(d: Daemon, args: argparse.Namespace, summary: dict[str, Any]) -> None:
    target, cid, load_s = load_big(d, args.big)
    rows = query_rows(d, target, cid, args.runs)
    reads = docker_read_rate(cid, args.big)
    print_grid(f"2. Query: a page of 100 over {args.big:,} stored lines (stored in "
               f"{load_s:.0f} s, i.e. {args.big / load_s:,.0f} lines/s), {args.runs} runs",
               HEADER,
               [(what, f"{v * 1000:.1f} ms (best {best * 1000:.1f})",
                 f"{ref * 1000:.0f} ms" if ref else "", f"{v / ref:.4f}x" if ref else "", goal)
                for what, v, best, ref, goal in rows]
               + [("docker logs read rate (the engine's API)", "", f"{reads:,.0f}/s", "", "")])
    summary["query_ms"] = {w: round(v * 1000, 1) for w, v, _, _, _ in rows}


def following(d: Daemon, args: argparse.Namespace, summary: dict[str, Any]) -> None:
    plat_lat, docker_lat = follow_latency(d, args.follow_samples)
    if not (plat_lat and docker_lat):
        raise SystemExit("3. Follow: no samples (the followers saw no lines)")
    pm, dm = median(plat_lat), median(docker_lat)
    p90 = statistics.quantiles(plat_lat, n=10)[-1] if len(plat_lat) > 1 else pm
    print_grid(f"3. Follow: container write -> line on the follower's stdout, "
               f"{len(plat_lat)} lines", HEADER,
               [("plat logs --follow (median)", f"{pm * 1000:.1f} ms", f"{dm * 1000:.1f} ms",
                 f"{pm / dm:.2f}x", "< 100 ms"),
                ("plat logs --follow (p90)", f"{p90 * 1000:.1f} ms", "", "", ""),
                ("  reference: docker logs -f --timestamps", "", "", "", "")])
    summary["follow_ms"] = round(pm * 1000, 1)


PARTS = {"ingest": ingestion, "query": queries, "follow": following}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=300_000, help="lines per ingestion run")
    parser.add_argument("--big", type=int, default=1_000_000, help="lines stored for queries")
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--ingest-runs", type=int, default=3)
    parser.add_argument("--follow-samples", type=int, default=60)
    parser.add_argument("--parts", default="ingest,query,follow",
                        help="which measurements, comma-separated (default all three)")
    args = parse_args(parser, quick={"lines": 2000, "big": 5000, "runs": 2, "ingest_runs": 1,
                                     "follow_samples": 5})
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {', '.join(sorted(unknown))}; known: {', '.join(PARTS)}")
    print(f"host: {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f}")
    summary: dict[str, Any] = {}
    keep_all = 'logs_max_bytes = "0"\nlogs_max_age = "0"\n'
    with running_daemon("docker", platd_toml=keep_all) as (d, _):
        subprocess.run(["docker", "pull", "-q", BUSYBOX], capture_output=True)
        for part in parts:
            PARTS[part](d, args, summary)
        print(json.dumps(summary))
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
