"""Real Serf agents in a lab's namespaces, started the way platd starts them (``SerfAgent``).

Each node runs one agent bound to its lab address (gossip on port 7946) with its RPC on the
node's own loopback, 127.0.0.1:7373, reached from the test through ``node.open_socket``. All
agents of a cluster share one generated keyring and RPC auth key, as the hosts of a plat
cluster do.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from platd.gossip.agent import SerfAgent
from platd.gossip.agent_config import AgentConfig, AgentSecrets, Profile
from platd.gossip.serf_rpc import SerfClient
from platd.gossip.tags import HostTags
from tests.cluster.netns import Lab, Node

GOSSIP_PORT = 7946


@dataclass
class SerfNode:
    host: Node
    agent: SerfAgent
    client: SerfClient

    @property
    def name(self) -> str:
        return self.agent.config.node_name

    async def reconnect(self) -> SerfClient:
        await self.client.close()
        self.client = await self.agent.connect()
        return self.client

    async def statuses(self) -> dict[str, str]:
        return {m.name: m.status for m in await self.client.members()}


def host_tags(node: Node) -> dict[str, str]:
    return HostTags(
        host_id=f"host-{node.index}",
        api=f"{node.ip}:7070",
        schema=3,
        region="lab",
        labels={"rack": str(node.index % 2)},
        cpus=2,
        memory=4 << 30,
    ).encode()


def make_agent(
    node: Node, state_root: Path, secrets: AgentSecrets, *, profile: Profile = "lan"
) -> SerfAgent:
    config = AgentConfig(
        node_name=f"host-{node.index}",
        bind=f"{node.ip}:{GOSSIP_PORT}",
        tags=host_tags(node),
        profile=profile,
    )
    return SerfAgent(
        config,
        secrets,
        state_root / config.node_name,
        command_prefix=node.prefix,
        opener=node.open_socket,
    )


@asynccontextmanager
async def serf_cluster(
    lab: Lab,
    state_root: Path,
    *,
    secrets: AgentSecrets | None = None,
    profile: Profile = "lan",
    join: bool = True,
) -> AsyncIterator[list[SerfNode]]:
    """An agent on every node of ``lab``, all joined through node 0 (unless ``join=False``);
    stopped afterwards (the lab's destruction would kill them anyway)."""
    secrets = secrets or AgentSecrets.generate()
    agents = [make_agent(node, state_root, secrets, profile=profile) for node in lab.nodes]
    nodes: list[SerfNode] = []
    try:
        await asyncio.gather(*(agent.start() for agent in agents))
        for node, agent in zip(lab.nodes, agents, strict=True):
            nodes.append(SerfNode(node, agent, await agent.connect()))
        if join and len(nodes) > 1:
            seed = f"{lab[0].ip}:{GOSSIP_PORT}"
            await asyncio.gather(*(n.client.join([seed]) for n in nodes[1:]))
        yield nodes
    finally:
        for started in nodes:
            await started.client.close()
        await asyncio.gather(*(agent.stop(timeout=5) for agent in agents))


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout: float, what: str, every: float = 0.05
) -> float:
    """Poll ``check`` until it holds; returns the seconds it took (for measurements, never
    asserted on). Fails the test with ``what`` when ``timeout`` passes first."""
    start = time.monotonic()
    while True:
        if await check():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        await asyncio.sleep(every)


async def all_see(nodes: list[SerfNode], expected: dict[str, str]) -> bool:
    """Every node's view is exactly ``expected`` (name -> status)."""
    views = await asyncio.gather(*(n.statuses() for n in nodes))
    return all(view == expected for view in views)
