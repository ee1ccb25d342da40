"""Real Serf agents, one per network namespace, driven through plat's RPC client and supervisor.

What replication will stand on: agents find each other, a user event reaches everyone, a
killed host is marked failed and comes back, a partition (iptables INPUT DROP) is detected and
heals, tags reach peers, and the RPC refuses a wrong key. Timing is Serf's ``lan`` profile with
``reconnect_interval`` 5 s, as in production (see platd/gossip/agent_config.py); the time
limits below are only how long a test waits before failing.
"""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from platd.gossip.agent import SerfAgent
from platd.gossip.agent_config import AgentSecrets
from platd.gossip.errors import AuthFailed, ConnectionLost, PayloadTooLarge
from platd.gossip.fake import FakeNetwork
from platd.gossip.serf_rpc import SerfClient
from platd.gossip.stream import EventStream
from platd.gossip.tags import HostTags
from platd.gossip.types import GossipEvent, MemberEvent, UserEvent
from tests.cluster.netns import Lab
from tests.cluster.serf_support import SerfNode, all_see, eventually, make_agent, serf_cluster
from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("serf_program")]

FAILURE_DETECTION = 30.0  # lan profile: 5-7 s is usual; generous for a loaded machine
MakeLab = Callable[[int], Lab]


def run(body: Callable[[], Awaitable[None]], timeout: float = 90) -> None:
    asyncio.run(asyncio.wait_for(body(), timeout))


async def next_matching(
    stream: EventStream, match: Callable[[GossipEvent], bool], timeout: float
) -> GossipEvent:
    async def find() -> GossipEvent:
        async for event in stream:
            if match(event):
                return event
        raise AssertionError("the stream ended")

    return await asyncio.wait_for(find(), timeout)


def alive(nodes: list[SerfNode]) -> dict[str, str]:
    return {n.name: "alive" for n in nodes}


def test_three_agents_see_each_other_with_their_tags(make_lab: MakeLab, tmp_path: Path) -> None:
    async def body() -> None:
        async with serf_cluster(make_lab(3), tmp_path) as nodes:
            await eventually(lambda: all_see(nodes, alive(nodes)), timeout=10, what="all alive")
            for member in await nodes[2].client.members():
                tags = HostTags.decode(member.tags)
                assert tags.host_id == member.name
                assert tags.api == f"{member.addr}:7070"
                assert member.port == 7946
            assert nodes[1].client.name == "host-1"

    run(body)


def test_a_user_event_reaches_every_agent_including_the_sender(
    make_lab: MakeLab, tmp_path: Path
) -> None:
    async def body() -> None:
        async with serf_cluster(make_lab(3), tmp_path) as nodes:
            streams = [await n.client.subscribe() for n in nodes]
            payload = b"\x00origin=host-1 hlc=\xff"  # binary-safe
            await nodes[1].client.user_event("plat-hint", payload)
            for stream in streams:
                event = await next_matching(stream, lambda e: isinstance(e, UserEvent), 10)
                assert event == UserEvent("plat-hint", payload, event.ltime, False)  # type: ignore[union-attr]
                await stream.close()

    run(body)


def test_user_event_size_limit_is_the_fakes(make_lab: MakeLab, tmp_path: Path) -> None:
    """The fake refuses exactly what Serf refuses, so unit tests catch oversized hints."""

    async def body() -> None:
        async with serf_cluster(make_lab(1), tmp_path) as nodes:
            client = nodes[0].client
            fake = FakeNetwork().add("a")
            size = 400
            while True:  # the largest payload the fake accepts under the default 512 limit
                try:
                    await fake.user_event("plat-hint", b"x" * (size + 1))
                except PayloadTooLarge:
                    break
                size += 1
            await client.user_event("plat-hint", b"x" * size)
            with pytest.raises(PayloadTooLarge, match="limit of 512"):
                await client.user_event("plat-hint", b"x" * (size + 1))
            await client.user_event("plat-hint", b"still connected")

    run(body)


def test_a_killed_agent_is_marked_failed_and_rejoins_when_restarted(
    make_lab: MakeLab, tmp_path: Path
) -> None:
    async def body() -> None:
        async with serf_cluster(make_lab(3), tmp_path) as nodes:
            await eventually(lambda: all_see(nodes, alive(nodes)), timeout=10, what="all alive")
            events = await nodes[0].client.subscribe()
            victim = nodes[2]
            assert victim.host.kill9() == [victim.agent.pid]
            survivors = nodes[:2]
            expected = alive(nodes) | {victim.name: "failed"}
            await eventually(
                lambda: all_see(survivors, expected), timeout=FAILURE_DETECTION,
                what="host-2 marked failed by both survivors",
            )
            failed = await next_matching(
                events, lambda e: isinstance(e, MemberEvent) and e.kind == "member-failed", 10
            )
            assert [m.name for m in failed.members] == ["host-2"]  # type: ignore[union-attr]
            with pytest.raises(ConnectionLost):
                await victim.client.members()

            # Back without anyone calling join: the survivors retry failed members every
            # reconnect_interval (its snapshot may not help: Serf flushes it lazily, so a
            # kill -9 soon after joining loses the peers it had just learned).
            await victim.agent.start()
            await victim.reconnect()
            await eventually(lambda: all_see(nodes, alive(nodes)), timeout=20, what="rejoined")

    run(body)


def test_the_supervisor_restarts_an_agent_that_died(make_lab: MakeLab, tmp_path: Path) -> None:
    async def body() -> None:
        lab = make_lab(1)
        agent = make_agent(lab[0], tmp_path, AgentSecrets.generate())
        supervisor = asyncio.create_task(agent.run())
        try:

            def started(times: int) -> Callable[[], Awaitable[bool]]:
                async def check() -> bool:
                    return agent.starts == times and await _answers(agent)

                return check

            await eventually(started(1), timeout=20, what="agent up")
            first = agent.pid
            lab[0].kill9()
            await eventually(started(2), timeout=20, what="agent restarted by its supervisor")
            assert agent.pid != first
        finally:
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
        assert not agent.running
        assert lab[0].pids() == []

    run(body)


async def _answers(agent: SerfAgent) -> bool:
    try:
        client = await agent.connect(timeout=1)
    except ConnectionLost:
        return False
    try:
        return bool(await client.members())
    finally:
        await client.close()


def test_a_partition_is_detected_on_both_sides_and_heals(
    make_lab: MakeLab, tmp_path: Path
) -> None:
    async def body() -> None:
        lab = make_lab(3)
        async with serf_cluster(lab, tmp_path) as nodes:
            await eventually(lambda: all_see(nodes, alive(nodes)), timeout=10, what="all alive")
            lab.partition([lab[0]], [lab[1], lab[2]])
            lonely, rest = nodes[0], nodes[1:]
            await eventually(
                lambda: all_see([lonely], {n.name: "failed" for n in rest} | alive([lonely])),
                timeout=FAILURE_DETECTION, what="host-0 sees the others failed",
            )
            await eventually(
                lambda: all_see(rest, alive(rest) | {lonely.name: "failed"}),
                timeout=FAILURE_DETECTION, what="the others see host-0 failed",
            )
            lab.heal()
            await eventually(
                lambda: all_see(nodes, alive(nodes)), timeout=FAILURE_DETECTION,
                what="everyone alive again after the heal",
            )

    run(body)


def test_tag_updates_reach_peers(make_lab: MakeLab, tmp_path: Path) -> None:
    async def body() -> None:
        async with serf_cluster(make_lab(3), tmp_path) as nodes:
            events = await nodes[2].client.subscribe()
            await nodes[0].client.update_tags({"api": "10.213.0.1:7171"}, delete=["labels"])

            async def updated() -> bool:
                tags = {m.name: m.tags for m in await nodes[1].client.members()}["host-0"]
                return tags.get("api") == "10.213.0.1:7171" and "labels" not in tags

            await eventually(updated, timeout=10, what="host-1 sees host-0's new tags")
            update = await next_matching(
                events, lambda e: isinstance(e, MemberEvent) and e.kind == "member-update", 10
            )
            assert update.members[0].tags["api"] == "10.213.0.1:7171"  # type: ignore[union-attr]

    run(body)


def test_a_host_that_leaves_is_shown_left(make_lab: MakeLab, tmp_path: Path) -> None:
    async def body() -> None:
        async with serf_cluster(make_lab(2), tmp_path) as nodes:
            await eventually(lambda: all_see(nodes, alive(nodes)), timeout=10, what="all alive")
            await nodes[1].client.close()
            await nodes[1].agent.stop(leave=True)
            await eventually(
                lambda: all_see(nodes[:1], {"host-0": "alive", "host-1": "left"}),
                timeout=10, what="host-0 sees host-1 left",
            )

    run(body)


def test_rpc_refuses_a_missing_or_wrong_auth_key(make_lab: MakeLab, tmp_path: Path) -> None:
    async def body() -> None:
        lab = make_lab(1)
        secrets = AgentSecrets.generate()
        async with serf_cluster(lab, tmp_path, secrets=secrets) as nodes:
            agent = nodes[0].agent
            for key in ("not-the-key-at-all", None):
                with pytest.raises(AuthFailed) as refused:
                    await SerfClient.connect(
                        agent.config.rpc_addr, auth_key=key, opener=lab[0].open_socket
                    )
                assert secrets.rpc_auth not in str(refused.value)
            assert await nodes[0].client.members()  # the right key still works

            # The secrets live only in files nobody else can read, never in the log.
            for path in (agent.config_file, agent.keyring_file):
                assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
            log = agent.log_file.read_text()
            for secret in (secrets.rpc_auth, *secrets.keyring):
                assert secret not in log
                assert secret not in repr(secrets)
            assert "Encrypted: true" in log

    run(body)


def test_one_connection_carries_concurrent_requests_and_streams(
    make_lab: MakeLab, tmp_path: Path
) -> None:
    """Replies are routed by Seq: requests in flight together, a stream stopped while its
    events are still arriving, and another stream that keeps every event."""

    async def body() -> None:
        async with serf_cluster(make_lab(2), tmp_path) as nodes:
            client = nodes[0].client
            stopped = await client.subscribe()
            kept = await client.stream("user:plat-hint")
            sends = [client.user_event("plat-hint", str(i).encode()) for i in range(100)]
            reads = [client.members() for _ in range(20)]
            results = await asyncio.gather(*sends[:50], *reads, stopped.close(), *sends[50:])
            assert all(len(r) == 2 for r in results if isinstance(r, list))

            got: list[int] = []
            while len(got) < 100:
                event = await asyncio.wait_for(anext(kept), 10)
                assert isinstance(event, UserEvent)
                got.append(int(event.payload))
            assert sorted(got) == list(range(100))
            assert len(await client.members()) == 2  # the connection is still in step
            await nodes[1].client.user_event("other-name", b"")  # filtered out by "user:NAME"
            await nodes[1].client.user_event("plat-hint", b"from host-1")
            event = await asyncio.wait_for(anext(kept), 10)
            assert event == UserEvent("plat-hint", b"from host-1", event.ltime)  # type: ignore[union-attr]

    run(body)


PLATD_STAND_IN = """
import asyncio, sys
from pathlib import Path
from platd.gossip.agent_config import AgentSecrets
from tests.cluster.netns import Node
from tests.cluster.serf_support import make_agent

async def main() -> None:
    name, ip, state = sys.argv[1:]
    agent = make_agent(Node(name, 0, ip), Path(state), AgentSecrets.generate())
    await agent.start()
    print(agent.pid, flush=True)
    await asyncio.sleep(120)

asyncio.run(main())
"""


def test_the_agent_dies_with_the_platd_that_started_it(make_lab: MakeLab, tmp_path: Path) -> None:
    """A host whose platd was killed must not go on looking alive to its peers."""
    lab = make_lab(1)
    platd = subprocess.Popen(
        [sys.executable, "-c", PLATD_STAND_IN, lab[0].name, lab[0].ip, str(tmp_path)],
        stdout=subprocess.PIPE, cwd=ROOT, text=True,
    )
    try:
        assert platd.stdout is not None
        agent_pid = int(platd.stdout.readline())
        assert lab[0].pids() == [agent_pid]
        platd.kill()
        platd.wait(timeout=10)
        asyncio.run(eventually(_no_processes(lab), timeout=10, what="the agent exited"))
    finally:
        platd.kill()
        platd.wait()


def _no_processes(lab: Lab) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return lab[0].pids() == []

    return check
