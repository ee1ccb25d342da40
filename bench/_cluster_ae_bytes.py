"""Section 4 of bench/cluster.py: the bytes one anti-entropy round moves when it pulls many rows
from scratch. A real Replicator, in a namespace of its own, pulls from a platd over the peer API:
HTTP bodies are counted by the client, bytes on the wire by the namespace's interface counters.
The reference is the same bodies gzip-compressed (what compressing the pages would leave).

The puller runs as this file in the puller's namespace (``python _cluster_ae_bytes.py API DATA``),
so that its traffic is all that crosses that namespace's interface; it prints one JSON line.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT

from tests.cluster.netns import Lab, Node
from tests.cluster.platd_cluster import Host, init


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
        proc = puller.run(sys.executable, __file__, host.api, str(host.data),
                          check=False, cwd=ROOT)
        after = wire_bytes(puller)
        if proc.returncode != 0:
            raise RuntimeError(f"the pull failed: {proc.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        result["wire"] = after - before
        host.stop()
        return result



if __name__ == "__main__":
    print(json.dumps(pull_once(sys.argv[1], Path(sys.argv[2]))))
