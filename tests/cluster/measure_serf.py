"""Measure what replication can expect from Serf: N real agents in network namespaces.

    sudo .venv/bin/python -m tests.cluster.measure_serf [--nodes 10] [--events 200] [--runs 3]

Prints a table: time for all agents to see each other after joining, a user event's latency
to reach every agent (p50/p99), kill -9 to "failed" on every survivor, and partition heal to
"alive" everywhere; plus how many of a 1,000-event burst each subscriber got. Timings are
medians over ``--runs`` (fresh agents each run); nothing here asserts on time. (It lives beside
the cluster harness it uses; bench/ is where a benchmark with a reference would go.)
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from platd.gossip.agent_config import AgentConfig, Profile
from platd.gossip.stream import EventStream
from platd.gossip.types import UserEvent
from tests.cluster.netns import Lab, netns_problem, sweep_stale
from tests.cluster.serf_support import SerfNode, all_see, eventually, serf_cluster


def alive(nodes: list[SerfNode]) -> dict[str, str]:
    return {n.name: "alive" for n in nodes}


async def convergence(lab: Lab, root: Path, profile: Profile) -> float:
    async with serf_cluster(lab, root, profile=profile, join=False) as nodes:
        start = time.monotonic()
        seed = f"{lab[0].ip}:7946"
        await asyncio.gather(*(n.client.join([seed]) for n in nodes[1:]))
        await eventually(lambda: all_see(nodes, alive(nodes)), timeout=60, what="all see all",
                         every=0.01)
        return time.monotonic() - start


async def event_latencies(nodes: list[SerfNode], count: int) -> list[float]:
    streams = [await n.client.stream("user:m") for n in nodes]
    sent: dict[int, float] = {}
    arrivals: dict[int, list[float]] = {i: [] for i in range(count)}

    async def reader(stream: EventStream) -> None:
        async for event in stream:
            if isinstance(event, UserEvent):
                arrivals[int(event.payload)].append(time.monotonic())

    readers = [asyncio.create_task(reader(s)) for s in streams]
    rng = random.Random(7)
    for i in range(count):
        sent[i] = time.monotonic()
        await rng.choice(nodes).client.user_event("m", str(i).encode())
        await asyncio.sleep(0.02)
    await asyncio.sleep(3)
    for task in readers:
        task.cancel()
    for stream in streams:
        await stream.close()
    complete = [max(a) - sent[i] for i, a in arrivals.items() if len(a) == len(nodes)]
    if len(complete) < count:
        print(f"  {count - len(complete)} of {count} events did not reach every agent")
    return complete


async def burst(nodes: list[SerfNode], count: int) -> list[int]:
    streams = [await n.client.stream("user:b") for n in nodes]
    await asyncio.gather(*(nodes[0].client.user_event("b", b"%d" % i) for i in range(count)))
    await asyncio.sleep(3)
    got = []
    for stream in streams:
        got.append(len([e for e in stream._buffer if isinstance(e, UserEvent)]))
        await stream.close()
    return got


async def failure_detection(lab: Lab, nodes: list[SerfNode]) -> float:
    victim = nodes[-1]
    survivors = nodes[:-1]
    lab.nodes[-1].kill9()
    expected = alive(nodes) | {victim.name: "failed"}
    took = await eventually(lambda: all_see(survivors, expected), timeout=60,
                            what="failure seen by all", every=0.02)
    await victim.agent.start()
    await victim.reconnect()
    await eventually(lambda: all_see(nodes, alive(nodes)), timeout=60, what="rejoined")
    return took


async def heal(lab: Lab, nodes: list[SerfNode]) -> float:
    half = len(nodes) // 2
    lab.partition(lab.nodes[:half], lab.nodes[half:])
    left, right = nodes[:half], nodes[half:]
    await eventually(
        lambda: all_see(left, alive(left) | {n.name: "failed" for n in right}),
        timeout=60, what="partition seen",
    )
    await eventually(
        lambda: all_see(right, alive(right) | {n.name: "failed" for n in left}),
        timeout=60, what="partition seen",
    )
    lab.heal()
    return await eventually(lambda: all_see(nodes, alive(nodes)), timeout=90,
                            what="healed", every=0.02)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(args: argparse.Namespace) -> None:
    joins, fails, heals = [], [], []
    latencies: list[float] = []
    bursts: list[int] = []
    for run in range(args.runs):
        with Lab(args.nodes) as lab, tempfile.TemporaryDirectory() as tmp:
            joins.append(await convergence(lab, Path(tmp) / "a", args.profile))
        with Lab(args.nodes) as lab, tempfile.TemporaryDirectory() as tmp:
            async with serf_cluster(lab, Path(tmp), profile=args.profile) as nodes:
                await eventually(lambda: all_see(nodes, alive(nodes)), timeout=60, what="up")
                if run == 0:
                    latencies = await event_latencies(nodes, args.events)
                    bursts = await burst(nodes, 1000)
                fails.append(await failure_detection(lab, nodes))
                heals.append(await heal(lab, nodes))
        print(f"run {run + 1}: join {joins[-1]:.2f}s, failure {fails[-1]:.2f}s, "
              f"heal {heals[-1]:.2f}s", flush=True)

    interval = AgentConfig.__dataclass_fields__["reconnect_interval"].default
    print(f"\nSerf {args.nodes} agents, profile {args.profile}, reconnect_interval {interval}, "
          f"{args.runs} runs\n")
    rows = [
        ("all see all after join (median)", f"{statistics.median(joins):.3f} s"),
        (f"user event to all, p50 ({len(latencies)} events)", f"{pct(latencies, 0.5):.3f} s"),
        ("user event to all, p99", f"{pct(latencies, 0.99):.3f} s"),
        ("user event to all, max", f"{max(latencies):.3f} s"),
        ("kill -9 -> failed on all survivors (median)", f"{statistics.median(fails):.2f} s"),
        ("kill -9 -> failed, min..max", f"{min(fails):.2f}..{max(fails):.2f} s"),
        ("heal -> all alive everywhere (median)", f"{statistics.median(heals):.2f} s"),
        ("heal, min..max", f"{min(heals):.2f}..{max(heals):.2f} s"),
        ("burst of 1000 events: received per agent", f"{min(bursts)}..{max(bursts)}"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:>14}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", default="lan", choices=("lan", "wan", "local"))
    problem = netns_problem()
    if problem:
        sys.exit(f"measure_serf: {problem}")
    sweep_stale()
    asyncio.run(main(parser.parse_args()))
