"""Cluster replication through real platd hosts, each with its Serf agent, in network namespaces.

1. Visibility: a write on one host (POST /v1/tree/orgs) until every host's API lists it (GET
   /v1/tree/orgs polled on each), p50/p99 over K writes at 3, 5 and 10 hosts. Reference, same
   agents, same run: a Serf user event sent through one agent's RPC until every agent has it.
2. Heal: 10 hosts cut 5|5, writes on both sides, heal; until every host's state digest is
   equal. Reference: until every Serf agent sees every other alive again.
3. Idle cost per host: CPU (from /proc/PID/stat over a window) and RSS of platd and its serf.
4. Bytes of one anti-entropy round that pulls 10,000 rows from scratch: a real Replicator in a
   namespace of its own pulls from a platd over the peer API; HTTP bodies counted by the
   client, bytes on the wire from the namespace's interface counters. Reference: the same
   bodies gzip-compressed (what compressing the pages would leave).
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
import gzip
import http.client
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import ROOT

from tests.cluster.netns import Lab, Node, netns_problem, sweep_stale
from tests.cluster.platd_cluster import (
    Host,
    NodeConnection,
    alive_count,
    init,
    wait_for,
)

SLOW = 2.0  # a write slower than this is reported as it happens, host by host
POLL = 0.025  # seconds between two GETs of one host while it has not seen the write yet
RPC = "127.0.0.1:7373"  # where platd's Serf agent answers RPC inside each namespace


# -- hosts



class Api:
    """One host's API over one persistent connection (one thread at a time)."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self._conn: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.host.token}",
                   "Content-Type": "application/json"}
        for attempt in (1, 2):
            if self._conn is None:
                # Inside its namespace; https with the cluster's CA beyond loopback.
                self._conn = NodeConnection(self.host.node, 5.0, self.host.ca)
            try:
                self._conn.request(method, path, None if body is None else json.dumps(body),
                                   headers)
                r = self._conn.getresponse()
                raw = r.read()
            except (OSError, http.client.HTTPException):
                self._conn.close()
                self._conn = None
                if attempt == 2:
                    raise
                continue
            if not 200 <= r.status < 300:
                raise RuntimeError(f"{method} {path} on {self.host.node.name}: {r.status} {raw!r}")
            return json.loads(raw) if raw else None
        raise AssertionError("unreachable")

    def org_names(self) -> set[str]:
        return {o["name"] for o in self.call("GET", "/v1/tree/orgs")}

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def start_host(node: Node, data: Path, interval: float, first: Host | None) -> Host:
    """``platd init`` (a new cluster, or a join through ``first``), then ``platd serve``."""
    if first is None:
        made = init(node, data, "--cluster", "bench")
        host = Host(node, data, token=made["token"], host_id=made["host"]["id"])
    else:
        token = first.ok("POST", "/v1/hosts/join-tokens", {})["token"]
        joined = init(node, data, "--join", first.api, "--token", token)
        host = Host(node, data, token=first.token, host_id=joined["host"]["id"])
    settings = data / "platd.toml"
    settings.write_text(f"anti_entropy_seconds = {interval:g}\n" + settings.read_text())
    host.start()
    return host


def grow(lab: Lab, root: Path, hosts: list[Host], size: int, interval: float) -> None:
    while len(hosts) < size:
        node = lab[len(hosts)]
        hosts.append(start_host(node, root / f"h{node.index}", interval,
                                hosts[0] if hosts else None))
    wait_for(lambda: all(alive_count(h) == size for h in hosts), 60,
             f"all {size} hosts see each other alive")


class Digests:
    """Each host's state digest, computed again only when its database files changed.

    Hashing every host's rows in this process on every poll took the GIL from the thread that
    watches Serf's merge and stole CPU from the very daemons being measured. A commit changes
    the WAL file (a checkpoint the main file), so their size and mtime say when to look again.
    """

    def __init__(self) -> None:
        self._seen: dict[Path, tuple[tuple[int, int], ...]] = {}
        self._digest: dict[Path, str] = {}

    def of(self, host: Host) -> str:
        files = [host.data / "state.db", host.data / "state.db-wal"]
        stamp = tuple((st.st_mtime_ns, st.st_size) for st in map(_stat, files))
        # File times tick in jiffies: a stamp this fresh may hide a second commit after it.
        fresh = max(m for m, _ in stamp) > time.time_ns() - 100_000_000
        if fresh or self._seen.get(host.data) != stamp or host.data not in self._digest:
            self._digest[host.data] = host.digest()
            self._seen[host.data] = stamp
        return self._digest[host.data]


def _stat(path: Path) -> os.stat_result:
    try:
        return path.stat()
    except FileNotFoundError:
        return os.stat_result((0,) * 10)


def digests_equal(hosts: list[Host], pool: ThreadPoolExecutor,
                  digests: Digests | None = None) -> bool:
    of = digests.of if digests is not None else (lambda h: h.digest())
    return len(set(pool.map(of, hosts))) == 1


# -- 1. visibility

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


def visibility(hosts: list[Host], writes: int, rng: random.Random) -> Visibility:
    apis = [Api(h) for h in hosts]
    pids = [_processes(h)["platd"] for h in hosts]
    hz = os.sysconf("SC_CLK_TCK")
    ticks = sum(map(_ticks, pids))
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
    cpu = (sum(map(_ticks, pids)) - ticks) / hz
    before = _ticks(pids[0])
    for _ in range(100):
        apis[0].org_names()
    per_get = (_ticks(pids[0]) - before) / hz / 100
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


# -- 2. heal

@dataclass
class Heal:
    equal: float | None  # heal -> every digest equal
    alive: float  # heal -> every host lists every host alive (Serf's merge, through platd)
    listed: float | None = None  # heal -> every host's API lists every write of both sides


def heal_once(lab: Lab, hosts: list[Host], run: int, writes_per_side: int) -> Heal:
    half = len(hosts) // 2
    left, right = hosts[:half], hosts[half:]
    lab.partition([h.node for h in left], [h.node for h in right])
    say(f"heal {run + 1}: cut {len(left)}|{len(right)}, waiting for both sides to see it...")
    wait_for(lambda: all(alive_count(h) == len(left) for h in left)
             and all(alive_count(h) == len(right) for h in right), 90, "both sides see the cut")
    names = []
    for i in range(writes_per_side):
        for side, tag in ((left, "l"), (right, "r")):
            name = f"heal-{run}-{tag}{i}"
            side[i % len(side)].ok("POST", "/v1/tree/orgs", {"path": name})
            names.append(name)
    apis = [Api(h) for h in hosts]
    wanted = set(names)
    listing: set[int] = set()  # hosts whose API lists them all (orgs are not deleted here)

    def lists_all(index: int) -> bool:
        if index not in listing and wanted <= apis[index].org_names():
            listing.add(index)
        return index in listing

    with ThreadPoolExecutor(len(hosts)) as pool:
        start = time.monotonic()
        lab.heal()
        alive_at: list[float] = []

        def alive_watch() -> None:
            wait_for(lambda: all(alive_count(h) == len(hosts) for h in hosts), 60, "healed")
            alive_at.append(time.monotonic() - start)

        watcher = threading.Thread(target=alive_watch)
        watcher.start()
        equal: float | None = None
        listed: float | None = None
        digests = Digests()
        while time.monotonic() - start < 60 and (equal is None or listed is None):
            # What users see (each host's API) and the whole replicated state (each host's
            # database, hashed): the writes can be listed everywhere before every row is.
            if listed is None and all(pool.map(lists_all, range(len(apis)))):
                listed = time.monotonic() - start
            if equal is None and digests_equal(hosts, pool, digests):
                equal = time.monotonic() - start
            time.sleep(0.05)
        watcher.join()
    for api in apis:
        api.close()
    return Heal(equal, alive_at[0] if alive_at else float("nan"), listed)


# -- 3. idle cost

def _ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15 of stat)


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _processes(host: Host) -> dict[str, int]:
    out = {}
    for pid in host.node.pids():
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if any(a.endswith(b"serf") for a in argv[:1]):
                out["serf"] = pid
            elif any(a.endswith(b"platd") for a in argv[:2]):
                out["platd"] = pid
    return out


def idle_cost(hosts: list[Host], seconds: float) -> dict[str, tuple[list[float], list[int]]]:
    """Per program, each host's CPU share (of one core) and RSS over ``seconds`` of quiet."""
    procs = [_processes(h) for h in hosts]
    hz = os.sysconf("SC_CLK_TCK")
    before = [{k: _ticks(p) for k, p in ps.items()} for ps in procs]
    time.sleep(seconds)
    out: dict[str, tuple[list[float], list[int]]] = {"platd": ([], []), "serf": ([], [])}
    for ps, b in zip(procs, before, strict=True):
        for k, pid in ps.items():
            out[k][0].append((_ticks(pid) - b[k]) / hz / seconds)
            out[k][1].append(_rss(pid))
    return out


# -- 4. anti-entropy bytes

def seed_rows(data: Path, host_id: str, count: int) -> None:
    """``count`` events written as that host (platd not running), as a long history would be."""
    from platd.spec.ids import uuid7
    from platd.store.db import Store
    from platd.store.models import Event

    rng = random.Random(10_000)
    envs = [uuid7() for _ in range(20)]
    releases = [uuid7() for _ in range(200)]
    kinds = [
        ("deploy", "ok", "{who} created and deployed release v{n} (was v{m})"),
        ("start", "ok", "instance {inst} of {wl} started on host h{h}"),
        ("health", "ok", "instance {inst} of {wl} is healthy (tcp 8080 answered in {ms} ms)"),
        ("health", "failed", "instance {inst} of {wl} failed its check: http 503 on /healthz"),
        ("stop", "ok", "instance {inst} of {wl} stopped after {s} s (replaced by release v{n})"),
        ("scale", "ok", "{who} scaled {wl}: count {m} -> {n}"),
    ]
    store = Store(data / "state.db", host_id)
    try:
        for start in range(0, count, 1000):
            with store.write() as session:
                for _ in range(start, min(count, start + 1000)):
                    step, outcome, text = rng.choice(kinds)
                    wl = rng.choice(("web", "worker", "api", "cron"))
                    n = rng.randint(2, 90)
                    session.add(Event(
                        id=uuid7(), at=time.time(), env_id=rng.choice(envs),
                        release_id=rng.choice(releases), workload=wl,
                        instance_id=uuid7() if step != "deploy" else None, step=step,
                        outcome=outcome, actor=rng.choice(("alice", "bob", None)),
                        message=text.format(who=rng.choice(("alice", "bob")), n=n, m=n - 1,
                                            inst=f"{rng.getrandbits(32):08x}", wl=wl,
                                            h=rng.randint(0, 9), ms=rng.randint(1, 400),
                                            s=rng.randint(1, 30)),
                    ))
    finally:
        store.close()


def pull_once(api: str, data: Path) -> dict[str, Any]:
    """Inside a namespace of its own: one anti-entropy round of a fresh host against ``api``,
    then a second one with nothing to pull. Prints what each moved."""
    import aiohttp

    from platd import certs
    from platd.cluster import identity
    from platd.cluster.replicator import Replicator
    from platd.cluster.transport import HttpPeerTransport
    from platd.gossip.fake import FakeNetwork
    from tests.unit.store_support import make_store

    ident = identity.load(data)
    assert ident is not None
    bodies: list[bytearray] = []
    waited: list[float] = []  # seconds in each request, answer read and decoded

    async def on_chunk(_s: object, _c: object, params: Any) -> None:
        bodies[-1] += params.chunk

    async def on_start(_s: object, _c: object, _p: object) -> None:
        bodies.append(bytearray())

    class Counting(HttpPeerTransport):
        async def _get(self, api: str, target: str, timeout: float | None = None) -> Any:
            if self._session is None:
                trace = aiohttp.TraceConfig()
                trace.on_request_start.append(on_start)
                trace.on_response_chunk_received.append(on_chunk)
                self._session = aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=60), trace_configs=[trace],
                    connector=aiohttp.TCPConnector(ssl=self.ssl_context or True))
            began = time.perf_counter()
            try:
                return await super()._get(api, target, timeout)
            finally:
                waited.append(time.perf_counter() - began)

    async def rounds() -> dict[str, Any]:
        with tempfile.TemporaryDirectory() as tmp:
            store = make_store(Path(tmp), "bench-puller")
            # The peer serves https with the cluster's CA (its data dir holds it).
            transport = Counting("bench-puller", ident.key, timeout=60,
                                 ssl_context=certs.client_context(data))
            # sync_with talks only to the peer it is given: gossip is not used here.
            replicator = Replicator(store, FakeNetwork().add("bench-puller"), transport)
            try:
                start = time.perf_counter()
                rows = await replicator.sync_with(api)
                seconds = time.perf_counter() - start
                fetching = sum(waited)
                first = list(bodies)
                bodies.clear()
                again = await replicator.sync_with(api)
            finally:
                await transport.close()
                store.close()
        return {"rows": rows, "seconds": seconds, "fetching": fetching, "requests": len(first),
                "body": sum(map(len, first)),
                "gzip": sum(len(gzip.compress(bytes(b), 6)) for b in first),
                "noop_rows": again, "noop_requests": len(bodies),
                "noop_body": sum(map(len, bodies))}

    return asyncio.run(rounds())


def wire_bytes(node: Node) -> int:
    out = node.run("ip", "-j", "-s", "link", "show", "eth0").stdout
    stats = json.loads(out)[0]["stats64"]
    return int(stats["rx"]["bytes"]) + int(stats["tx"]["bytes"])


def ae_bytes(root: Path, rows: int, interval: float) -> dict[str, Any]:
    with Lab(2) as lab:
        server, puller = lab[0], lab[1]
        made = init(server, root / "ae0", "--cluster", "ae")
        seed_rows(root / "ae0", made["host"]["id"], rows)
        host = Host(server, root / "ae0", token=made["token"], host_id=made["host"]["id"])
        settings = host.data / "platd.toml"
        settings.write_text(f"anti_entropy_seconds = {interval:g}\n" + settings.read_text())
        host.start()
        before = wire_bytes(puller)
        proc = puller.run(sys.executable, __file__, "--pull-once", host.api, str(host.data),
                          check=False, cwd=ROOT)
        after = wire_bytes(puller)
        if proc.returncode != 0:
            raise RuntimeError(f"the pull failed: {proc.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        result["wire"] = after - before
        host.stop()
        return result


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
                vis = visibility(hosts, args.writes, rng)
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
                heal = heal_once(lab, hosts, r, args.heal_writes)
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
    parser.add_argument("--pull-once", nargs=2, metavar=("API", "DATA"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pull_once:
        print(json.dumps(pull_once(args.pull_once[0], Path(args.pull_once[1]))))
        return 0
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
