"""A seeded randomized campaign against replication: many schedules of writes and faults, one
question each: once every fault is repaired, do all hosts hold the same state?

    .venv/bin/python -m tests.cluster.campaign --schedules 200 --seed 1 [--steps 40]

One process, 3 to 5 hosts, each with a real SQLite state store, a ``Replicator`` with a short
anti-entropy interval and ``conflicts.resolve`` after every merge, exactly as ``ClusterNode``
wires them. Gossip is the in-memory ``FakeNetwork``; peers read each other through a per-host
in-memory transport that refuses what a partition, a crashed host or a flaky link would refuse.
Every store stamps with its own skewed wall clock (up to several seconds off, and jumping
forward and back), because "the larger (hlc, origin) wins" must hold when clocks disagree.

A schedule is a pure function of its seed (``make_schedule``), so a failing seed names a
reproducible sequence of steps; the interleaving with replication is real concurrency and is
not. Writes go through the same service functions the API calls (``tenancy``, ``releases``,
``status.scale``, ``events``), and are refused the same way (a name already taken on that
host, a child still alive). Faults: partitions, heals, a host crashing (its replicator task
cancelled, its store reopened on restart with a fresh clock), a Serf agent dying alone, hints
dropped, peer requests failing at random.

At the end everything is repaired and the campaign waits (bounded) until every host's
``store.digest()`` is equal and stays equal, then checks what users rely on: no two live
siblings share a name, each env's current release is the same everywhere and points at one of
its releases, and each workload's scale override is the same everywhere. It also reports
conflict events whose explanation names a release other than the one that is current.

The parts: ``campaign_schedule`` (a seed's steps, pure), ``campaign_world`` (the hosts, their
links and faults), ``campaign_writes`` (the writes, through the API's services) and
``campaign_checks`` (what a converged end state must satisfy, and ``Result``). This module runs
one schedule to its end and is the command.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.cluster.campaign_checks import CATEGORIES, DIVERGENCE, Result, check_end_state
from tests.cluster.campaign_schedule import Schedule, make_schedule
from tests.cluster.campaign_world import World
from tests.cluster.campaign_writes import seed_tree

CONVERGE_TIMEOUT = 30.0
SCHEDULE_TIMEOUT = 180.0
SLOW_AFTER = (3.0, 10.0)  # seconds after the repair: how each host looks, if not converged


# -- one run


async def _run(schedule: Schedule, root: Path, result: Result) -> None:
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=16))
    world = World(root, schedule)

    def on_error(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        world.errors.append(f"unhandled: {context.get('message')}: {context.get('exception')!r}")

    loop.set_exception_handler(on_error)
    try:
        await asyncio.to_thread(seed_tree, world.hosts[0].store)
        for host in world.hosts[1:]:
            await host.gossip.join([world.hosts[0].name])
        for host in world.hosts:
            world.start(host)
        await _until_equal(world, timeout=CONVERGE_TIMEOUT, settle=0.0)
        for step in schedule.steps:
            await world.apply(step, result)
            if step.pause_ms:
                await asyncio.sleep(step.pause_ms / 1000)
        await world.repair()
        seconds = await _until_equal(world, timeout=CONVERGE_TIMEOUT,
                                     settle=max(0.3, 3 * schedule.interval), slow=result.slow)
        result.rows_moved = world.rows_moved
        if seconds is None:
            digests = await world.digests()
            result.problems.append(("diverged",
                f"digests still differ after {CONVERGE_TIMEOUT:g}s: "
                + ", ".join(f"host-{i}={d[:8]}" for i, d in enumerate(digests))))
        else:
            result.converged, result.seconds = True, seconds
        stores = [h.store for h in world.hosts]
        problems, result.conflicts = await asyncio.to_thread(check_end_state, stores)
        result.problems += problems
    finally:
        for host in world.hosts:
            await world.stop(host)
        result.problems += [("crash", e) for e in world.errors]
        world.close()


async def _bounded(schedule: Schedule, root: Path, result: Result) -> None:
    try:
        async with asyncio.timeout(SCHEDULE_TIMEOUT):
            await _run(schedule, root, result)
    except TimeoutError:
        result.problems.append(("crash", f"the schedule did not finish in {SCHEDULE_TIMEOUT:g}s"))


async def _until_equal(world: World, *, timeout: float, settle: float,
                       slow: list[str] | None = None) -> float | None:
    """Seconds until every digest is equal and stays equal for ``settle`` seconds (the time
    returned is when they first became equal for good); None when ``timeout`` passes. While
    it takes longer than ``SLOW_AFTER``, what each host is doing goes to ``slow``."""
    start = time.monotonic()
    equal_since: float | None = None
    looks = list(SLOW_AFTER)
    while time.monotonic() - start < timeout:
        if len(set(await world.digests())) == 1:
            now = time.monotonic()
            equal_since = equal_since or now
            if now - equal_since >= settle:
                return equal_since - start
        else:
            equal_since = None
            if slow is not None and looks and time.monotonic() - start > looks[0]:
                slow.append(f"after {looks.pop(0):g}s: " + await world.snapshot())
        await asyncio.sleep(0.05)
    return None


def run_campaign(seed: int, steps: int = 40, root: Path | None = None) -> Result:
    """Run the schedule of ``seed`` to its end and check the converged state."""
    schedule = make_schedule(seed, steps)
    result = Result(seed, schedule.hosts, steps)
    with contextlib.ExitStack() as stack:
        if root is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="campaign-")))
        asyncio.run(_bounded(schedule, root / f"seed-{seed}", result))
    return result


# -- the command

def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schedules", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1, help="the first seed (then +1 each)")
    parser.add_argument("--steps", type=int, default=40, help="steps per schedule")
    parser.add_argument("--show", action="store_true", help="print each schedule's steps")
    parser.add_argument("--tolerate", action="append", default=[], metavar="CATEGORY",
                        choices=sorted(DIVERGENCE),
                        help="do not count this category of problem as divergence (repeatable)")
    args = parser.parse_args(argv)
    if args.schedules < 1 or args.steps < 1:
        parser.error("--schedules and --steps must be at least 1")
    tolerate = frozenset(args.tolerate)
    logging.basicConfig(level=logging.CRITICAL)  # expected warnings: hints lost, peers down
    results: list[Result] = []
    began = time.monotonic()
    for seed in range(args.seed, args.seed + args.schedules):
        if args.show:
            for step in make_schedule(seed, args.steps).steps:
                print(f"  seed {seed}: {step}")
        r = run_campaign(seed, args.steps)
        results.append(r)
        mark = "DIVERGENT" if r.divergent(tolerate) else "ok"
        took = f"{r.seconds:.2f}s" if r.seconds is not None else "-"
        print(f"seed {seed:>5}  hosts {r.hosts}  writes {r.writes:>3} (refused {r.refused:>2})"
              f"  conflicts {r.conflicts:>2}  converged in {took:>6}  {mark}", flush=True)
        for category, what in r.problems:
            print(f"    {category}: {what}")
        for look in r.slow:
            print(f"    slow, {look}")
    _table(results, args, tolerate, time.monotonic() - began)
    return 1 if any(r.divergent(tolerate) for r in results) else 0


def _table(results: list[Result], args: argparse.Namespace, tolerate: frozenset[str],
           wall: float) -> None:
    times = [r.seconds for r in results if r.seconds is not None]
    by_hosts = Counter(r.hosts for r in results)
    rows = [
        ("schedules (seeds)", f"{len(results)} ({args.seed}..{args.seed + len(results) - 1})"),
        ("hosts per schedule", ", ".join(f"{n}: {c}" for n, c in sorted(by_hosts.items()))),
        ("steps per schedule", str(args.steps)),
        ("writes (refused as the API would)",
         f"{sum(r.writes for r in results)} ({sum(r.refused for r in results)})"),
        ("divergent end states" + (f" (tolerating {', '.join(sorted(tolerate))})"
                                   if tolerate else ""),
         str(sum(r.divergent(tolerate) for r in results))),
    ]
    for category, words in CATEGORIES.items():
        hit = sum(any(c == category for c, _ in r.problems) for r in results)
        rows.append((f"  schedules where {words}", str(hit)))
    rows += [
        ("conflicts resolved (conflict events)", str(sum(r.conflicts for r in results))),
        ("heal -> equal state, median", f"{statistics.median(times):.2f} s" if times else "-"),
        ("heal -> equal state, p99", f"{_pct(times, 0.99):.2f} s" if times else "-"),
        ("heal -> equal state, max", f"{max(times):.2f} s" if times else "-"),
        ("rows pulled per schedule, median",
         f"{statistics.median(r.rows_moved for r in results):.0f}"),
        ("wall time", f"{wall:.0f} s"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"\nreplication campaign: {len(results)} schedules\n")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    failing = [r.seed for r in results if r.divergent(tolerate)]
    if failing:
        print(f"\ndivergent seeds: {failing} (rerun one: --seed N --schedules 1 --show)")


if __name__ == "__main__":
    sys.exit(main())
