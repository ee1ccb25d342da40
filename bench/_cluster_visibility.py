"""Section 1 of bench/cluster.py: how long a write on one host takes until every host's API
lists it, and what it costs the daemons; the reference is a Serf user event through the same
agents, measured in the same run.

Each host is polled (``GET /v1/tree/orgs``) every ``POLL`` seconds while it has not seen the write;
that polling costs the daemons CPU too, so it is measured on its own and taken out.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from _cluster_hosts import Api
from _cluster_idle import processes, ticks

from tests.cluster.platd_cluster import Host

SLOW = 2.0  # a write slower than this is reported as it happens, host by host
POLL = 0.025  # seconds between two GETs of one host while it has not seen the write yet
RPC = "127.0.0.1:7373"  # where platd's Serf agent answers RPC inside each namespace


@dataclass
class Visibility:
    samples: list[float]  # seconds from sending a write until every host lists it
    missing: int  # writes some host did not list within 10 s
    cpu_per_write: float  # CPU seconds of all platd processes together, per write
    gets_per_write: float  # the bench's own polling, part of that CPU
    cpu_per_get: float  # what one polling GET costs a platd (measured after the writes)

    @property
    def replication_cpu(self) -> float:
        return max(0.0, self.cpu_per_write - self.gets_per_write * self.cpu_per_get)


def visibility(hosts: list[Host], writes: int, rng: random.Random,
               say: Callable[[str], None]) -> Visibility:
    apis = [Api(h) for h in hosts]
    pids = [processes(h)["platd"] for h in hosts]
    hz = os.sysconf("SC_CLK_TCK")
    started = sum(map(ticks, pids))
    gets = [0]
    writers = [Api(h) for h in hosts]
    size = len(hosts)
    samples: list[float] = []
    missing = 0

    slowest_get = [0.0] * size  # per host, the longest GET while waiting for this write

    def seen_at(index: int, name: str, start: float) -> float | None:
        deadline = start + 10.0
        slowest_get[index] = 0.0
        while time.perf_counter() < deadline:
            gets[0] += 1
            began = time.perf_counter()
            listed = name in apis[index].org_names()
            slowest_get[index] = max(slowest_get[index], time.perf_counter() - began)
            if listed:
                return time.perf_counter() - start
            time.sleep(POLL)
        return None

    with ThreadPoolExecutor(size) as pool:
        for i in range(writes):
            name = f"vis-{size}-{i}"
            start = time.perf_counter()
            writers[i % size].call("POST", "/v1/tree/orgs", {"path": name})
            arrivals = list(pool.map(lambda k, n=name, s=start: seen_at(k, n, s), range(size)))
            if any(a is None for a in arrivals):
                missing += 1
            else:
                samples.append(max(a for a in arrivals if a is not None))
            if any(a is None or a > SLOW for a in arrivals):
                # Tell a slow API (a GET that hung) from a write that arrived late.
                late = [f"h{k} {'never' if a is None else f'{a:.2f}s'} "
                        f"(longest GET {slowest_get[k]:.2f}s)"
                        for k, a in enumerate(arrivals) if a is None or a > SLOW]
                say(f"slow write {name} from h{i % size}: " + ", ".join(late))
            time.sleep(0.1 + 0.1 * rng.random())
    cpu = (sum(map(ticks, pids)) - started) / hz
    before = ticks(pids[0])
    for _ in range(100):
        apis[0].org_names()
    per_get = (ticks(pids[0]) - before) / hz / 100
    for api in apis + writers:
        api.close()
    return Visibility(samples, missing, cpu / writes, gets[0] / writes, per_get)


async def serf_event_latency(hosts: list[Host], events: int, rng: random.Random) -> list[float]:
    """Seconds from sending a user event through one agent until every agent delivered it."""
    from platd.cluster import identity
    from platd.gossip.serf_rpc import SerfClient
    from platd.gossip.types import UserEvent

    clients = []
    for h in hosts:
        ident = identity.load(h.data)
        assert ident is not None
        clients.append(await SerfClient.connect(RPC, auth_key=ident.rpc_auth,
                                                opener=h.node.open_socket))
    arrivals: dict[int, list[float]] = {i: [] for i in range(events)}
    streams = [await c.stream("user:bench-ref") for c in clients]

    async def reader(stream: Any) -> None:
        async for event in stream:
            if isinstance(event, UserEvent):
                arrivals[int(event.payload)].append(time.perf_counter())

    readers = [asyncio.create_task(reader(s)) for s in streams]
    sent: dict[int, float] = {}
    for i in range(events):
        sent[i] = time.perf_counter()
        await clients[i % len(clients)].user_event("bench-ref", str(i).encode())
        deadline = time.perf_counter() + 10
        while len(arrivals[i]) < len(clients) and time.perf_counter() < deadline:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.1 + 0.1 * rng.random())
    for task in readers:
        task.cancel()
    for stream in streams:
        await stream.close()
    for client in clients:
        await client.close()
    return [max(a) - sent[i] for i, a in arrivals.items() if len(a) == len(clients)]
