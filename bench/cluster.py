"""Cluster replication through real platd hosts, each with its Serf agent, in network namespaces.

Each section is measured by a module of its own beside this one (``bench/_cluster_*.py``); this
file starts the hosts, runs the sections in turn and prints their tables.

1. Visibility (``bench/_cluster_visibility.py``): a write on one host (POST /v1/tree/orgs)
   until every host's API lists it (GET /v1/tree/orgs polled on each), p50/p99 over K writes at
   3, 5 and 10 hosts. Reference, same agents, same run: a Serf user event sent through one
   agent's RPC until every agent has it.
2. Heal (``bench/_cluster_heal.py``): 10 hosts cut 5|5, writes on both sides, heal; until every
   host's state digest is equal. Reference: until every Serf agent sees every other alive again.
3. Idle cost per host (``bench/_cluster_idle.py``): CPU (from /proc/PID/stat over a window) and
   RSS of platd and its serf.
4. Bytes of one anti-entropy round that pulls 10,000 rows from scratch
   (``bench/_cluster_ae_bytes.py``): a real Replicator in a namespace of its own pulls from a
   platd over the peer API; HTTP bodies counted by the client, bytes on the wire from the
   namespace's interface counters. Reference: the same bodies gzip-compressed (what
   compressing the pages would leave).
5. Placement (``bench/_cluster_placement.py``): deploy -> 6 healthy over 3 hosts vs one host;
   time to re-place after a host is killed, from the kill; a merged ``plat logs`` page over 3
   hosts vs one host's.
6. Across hosts (``bench/_cluster_xhost.py``, HAProxy): an endpoint's connection to an instance
   on another host (through its hop) vs to one on the endpoint's host; a ``logs --follow``
   step over 3 hosts vs one host's.

Goals (issue 15): visibility p99 <= 1 s at 10 hosts; heal to equal state <= 6 s at 10 hosts.
Hosts run with platd's default anti-entropy interval (10 s) unless --anti-entropy says otherwise.
Nothing here asserts: it prints tables. Needs root (namespaces); every namespace, platd and serf
it starts is removed at the end, also on Ctrl-C.

Run: sudo .venv/bin/python bench/cluster.py [--quick] [--writes K] [--sizes 3,5,10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import _common  # noqa: F401  (puts the checkout on sys.path for the imports below)
from _cluster_ae_bytes import ae_bytes
from _cluster_heal import heal_once
from _cluster_hosts import grow
from _cluster_idle import idle_cost
from _cluster_visibility import POLL, serf_event_latency, visibility

from tests.cluster.netns import Lab, netns_problem, sweep_stale
from tests.cluster.platd_cluster import Host

# -- report

def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def table(title: str, rows: list[tuple[str, str, str, str, str]]) -> None:
    """Rows of (what, value, reference, ratio, goal)."""
    print(f"\n{title}")
    header = f"{'what':<44} {'value':>12} {'reference':>12} {'ratio':>7}  goal"
    print(header)
    print("-" * len(header))
    for what, value, ref, ratio, goal in rows:
        print(f"{what:<44} {value:>12} {ref:>12} {ratio:>7}  {goal}")
    sys.stdout.flush()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b else "-"


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


@contextlib.contextmanager
def interrupts_clean_up() -> Iterator[None]:
    """SIGTERM as Ctrl-C: both unwind through the labs' ``destroy`` (and the temporary
    directories' removal)."""
    def stop(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    # Started from a script in the background, Python inherits SIGINT ignored: Ctrl-C (or
    # kill -INT) must still unwind.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


T0 = time.monotonic()


def say(text: str) -> None:
    load = loadavg().split()[0]
    print(f"[{time.monotonic() - T0:5.1f}s load {load:>5}] {text}", flush=True)


def run(args: argparse.Namespace) -> None:
    rng = random.Random(15)
    sizes = sorted(args.sizes)
    print(f"host: {os.cpu_count()} cpus; /proc/loadavg before: {loadavg()}")
    print(f"anti-entropy interval {args.anti_entropy:g} s; {args.writes} writes per size; "
          f"polling each host every {POLL * 1000:.0f} ms until it lists the write", flush=True)
    vis_rows = []
    heal_rows = []
    idle: dict[str, tuple[list[float], list[int]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp, \
            Lab(max(sizes)) as lab:
        root = Path(tmp)
        hosts: list[Host] = []
        try:
            for size in sizes:
                say(f"{size} hosts: starting...")
                grow(lab, root, hosts, size, args.anti_entropy)
                time.sleep(args.settle)  # joins settle: first rounds, host events
                vis = visibility(hosts, args.writes, rng, say)
                samples = vis.samples
                serf = asyncio.run(serf_event_latency(hosts, args.writes, rng))
                note = f" ({vis.missing} not seen in 10 s)" if vis.missing else ""
                say(f"{size} hosts: write visible on all p50 {ms(pct(samples, .5))} "
                    f"p99 {ms(pct(samples, .99))}{note}; serf event p50 "
                    f"{ms(pct(serf, .5))} p99 {ms(pct(serf, .99))}; platd CPU per write "
                    f"{ms(vis.cpu_per_write)} (all hosts, with {vis.gets_per_write:.0f} GETs "
                    f"of {vis.cpu_per_get * 1000:.1f} ms)")
                goal = "p99 <= 1 s" if size == 10 else ""
                vis_rows += [
                    (f"{size} hosts: write -> visible on all, p50", ms(pct(samples, .5)),
                     ms(pct(serf, .5)), ratio(pct(samples, .5), pct(serf, .5)), ""),
                    (f"{size} hosts: write -> visible on all, p99", ms(pct(samples, .99)),
                     ms(pct(serf, .99)), ratio(pct(samples, .99), pct(serf, .99)), goal),
                    (f"  platd CPU per write, all {size} hosts", ms(vis.replication_cpu), "",
                     "", f"(+{vis.gets_per_write:.0f} polling GETs, "
                         f"{vis.cpu_per_get * 1000:.1f} ms each)"),
                ]
            size = len(hosts)
            time.sleep(args.settle)
            say(f"{size} hosts: idle cost over {args.idle:g} s...")
            idle = idle_cost(hosts, args.idle)
            heals = []
            for r in range(args.heal_runs):
                heal = heal_once(lab, hosts, r, args.heal_writes, say)
                heals.append(heal)
                say(f"{size} hosts: heal {r + 1}: equal state in "
                    f"{heal.equal if heal.equal is not None else float('nan'):.2f} s, "
                    f"writes listed by every API in "
                    f"{heal.listed if heal.listed is not None else float('nan'):.2f} s, "
                    f"all alive in {heal.alive:.2f} s")
                time.sleep(args.settle)
            equal = [h.equal for h in heals if h.equal is not None]
            alive = [h.alive for h in heals]
            if equal:
                e, a = statistics.median(equal), statistics.median(alive)
                heal_rows.append((f"{size} hosts {size // 2}|{size - size // 2}: heal -> equal "
                                  "digests", f"{e:.2f} s", f"{a:.2f} s", ratio(e, a), "<= 6 s"))
                heal_rows.append((f"  max of {len(heals)} runs (not equal in 60 s: "
                                  f"{len(heals) - len(equal)})", f"{max(equal):.2f} s",
                                  f"{max(alive):.2f} s", "", ""))
            listed = [h.listed for h in heals if h.listed is not None]
            if listed:
                li, a = statistics.median(listed), statistics.median(alive)
                heal_rows.append(("  heal -> both sides' writes listed by every host's API",
                                  f"{li:.2f} s", f"{a:.2f} s", ratio(li, a), ""))
        finally:
            for h in hosts:
                h.stop()
    say(f"anti-entropy bytes: {args.rows:,} rows...")
    with tempfile.TemporaryDirectory(prefix="bench-cluster-ae-") as tmp:
        ae = ae_bytes(Path(tmp), args.rows, args.anti_entropy)

    table(f"1. Write on one host -> listed by every host's API (median of {args.writes} writes; "
          "reference: a Serf user event to every agent, same agents)", vis_rows)
    if heal_rows:
        table(f"2. Partition with {args.heal_writes} writes per side, then heal "
              "(reference: every host lists every host alive)", heal_rows)
    cpu_p, rss_p = idle.get("platd", ([], []))
    cpu_s, rss_s = idle.get("serf", ([], []))
    if cpu_p and cpu_s:
        m_cpu_p, m_cpu_s = statistics.median(cpu_p), statistics.median(cpu_s)
        m_rss_p, m_rss_s = statistics.median(rss_p), statistics.median(rss_s)
        table(f"3. Idle cost per host, {len(cpu_p)} hosts, over {args.idle:g} s "
              "(reference: its serf agent)", [
                  ("CPU of platd, median (% of one core)", f"{m_cpu_p:.2%}", f"{m_cpu_s:.2%}",
                   ratio(m_cpu_p, m_cpu_s), ""),
                  ("CPU of platd, max", f"{max(cpu_p):.2%}", f"{max(cpu_s):.2%}", "", ""),
                  ("RSS of platd, median", f"{m_rss_p / 2**20:.0f} MiB",
                   f"{m_rss_s / 2**20:.0f} MiB", ratio(m_rss_p, m_rss_s), ""),
              ])
    table(f"4. One anti-entropy round pulling {ae['rows']:,} rows from scratch "
          f"({ae['requests']} requests; reference: the same bodies gzip -6)", [
              ("HTTP response bodies", f"{ae['body'] / 2**20:.2f} MiB",
               f"{ae['gzip'] / 2**20:.2f} MiB", ratio(ae["body"], ae["gzip"]), ""),
              ("on the wire (eth0 rx+tx, both rounds)", f"{ae['wire'] / 2**20:.2f} MiB", "",
               "", ""),
              ("bytes per row (bodies)", f"{ae['body'] / max(ae['rows'], 1):.0f} B",
               f"{ae['gzip'] / max(ae['rows'], 1):.0f} B", "", ""),
              ("time of the round", f"{ae['seconds']:.2f} s", "", "", ""),
              ("  of which waiting for pages (peer reads, JSON)", f"{ae['fetching']:.2f} s", "",
               "", ""),
              ("  of which merging (apply_remote, conflicts)",
               f"{ae['seconds'] - ae['fetching']:.2f} s", "", "", ""),
              (f"a round with nothing to pull ({ae['noop_requests']} request)",
               f"{ae['noop_body']} B", "", "", ""),
          ])
    if args.placement:
        from _cluster_placement import measure

        placed = measure(args.placement_runs, args.placement_reads, say)
        table("5. Placement (fake runtime: placement, replication and reconcilers, not "
              "container starts)", placed)  # type: ignore[arg-type]
    if args.xhost:
        from _cluster_xhost import measure as measure_xhost

        crossed = measure_xhost(args.xhost_connections, args.placement_reads * 2, say)
        table("6. Across hosts: an endpoint to another host's instance (reference: to one on "
              "the endpoint's host), a logs --follow step over 3 hosts (reference: one host)",
              crossed)
    print(f"\n/proc/loadavg after: {loadavg()}; {time.monotonic() - T0:.0f} s in all")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="3 hosts, few samples, 1,000 rows: a check that it all runs")
    parser.add_argument("--writes", type=int, help="writes per cluster size (default 100)")
    parser.add_argument("--sizes", help="cluster sizes, comma-separated (default 3,5,10)")
    parser.add_argument("--heal-runs", type=int, help="partition/heal cycles (default 3)")
    parser.add_argument("--heal-writes", type=int, default=10, help="writes per side")
    parser.add_argument("--idle", type=float, help="seconds of idle measurement (default 10)")
    parser.add_argument("--rows", type=int, help="rows pulled by the round (default 10,000)")
    parser.add_argument("--anti-entropy", type=float, default=10.0, metavar="SECONDS")
    parser.add_argument("--no-placement", dest="placement", action="store_false",
                        help="skip section 5 (placement: deploy spread, re-place, logs)")
    parser.add_argument("--no-xhost", dest="xhost", action="store_false",
                        help="skip section 6 (cross-host endpoints and logs --follow)")
    args = parser.parse_args()
    quick = args.quick
    args.writes = args.writes or (10 if quick else 100)
    args.heal_runs = args.heal_runs if args.heal_runs is not None else (1 if quick else 3)
    args.idle = args.idle or (3.0 if quick else 10.0)
    args.settle = 1.0 if quick else 3.0
    args.rows = args.rows or (1000 if quick else 10_000)
    args.placement_runs = 1 if quick else 3
    args.placement_reads = 5 if quick else 20
    args.xhost_connections = 60 if quick else 300
    try:
        args.sizes = [int(s) for s in (args.sizes or ("3" if quick else "3,5,10")).split(",")]
    except ValueError:
        parser.error("--sizes takes numbers separated by commas, e.g. 3,5,10")
    if not all(2 <= s <= 50 for s in args.sizes) or args.writes < 1:
        parser.error("sizes must be 2..50 hosts and --writes at least 1")
    problem = netns_problem()
    if problem:
        print(f"bench/cluster.py: {problem}", file=sys.stderr)
        return 2
    sweep_stale()
    with interrupts_clean_up():
        try:
            run(args)
        except KeyboardInterrupt:
            print("\ninterrupted: namespaces and processes removed", file=sys.stderr)
            return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
