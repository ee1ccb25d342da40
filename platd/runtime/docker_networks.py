"""One Docker bridge network per env, so instances of different envs (and so of different orgs)
cannot reach each other.

On Docker's default bridge every container can connect to every other one. Each env's instances
are instead attached to their own user-defined bridge, ``plat-env-<env id>``: Docker's isolation
rules drop traffic between two such bridges, while the host itself (health probes, the ingress
data plane) still reaches every instance at its address on its bridge. Inside one env, the
workload's name is a DNS alias on that network (``web``, ``db``), so workloads find each other.
Docker's isolation rules open for a moment whenever any network is created, so platd also loads
a table of its own that drops traffic between the pool's subnets (``env_firewall``): at start,
and again before it creates a network if the table has gone meanwhile.

Subnets are not left to Docker's default pools (about thirty /16s and /20s in all, quickly
exhausted by one network per env): each network gets a small subnet of the pool the operator
sets (``instance_network_pool`` in platd.toml), the first one no other network uses. Two
daemons on one engine may race for the same subnet; the engine refuses the overlap and the
loser takes the next one. They may also race for the same *name*: the engine's duplicate check
(``CheckDuplicate``) is a look-up before the create, not atomic, so several daemons of a
cluster sharing an engine, deploying at once, can each make ``plat-env-<id>`` (seen with
Docker 20.10 under load: three networks of one name, and every container start naming it
failing as "ambiguous"). ``ensure`` therefore settles duplicates: every daemon keeps the same
one (the one holding containers, else the smallest id) and removes the others; the last
daemon whose create returns sees them all.

A network is removed when the last container of its env on the engine goes (in any state: a
stopped container must be able to start again), a minute later (a stop-first rollout removes
the old instance before it creates the new one), and at start-up platd removes those whose
containers went behind its back.

The networks this daemon made or found are remembered, so creating an instance in an env that
already has its network costs no lookup; one removed behind platd's back makes the create fail
with "network not found", and the runtime then ``forget``s it and ensures it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

import aiodocker
import aiohttp
from aiodocker.exceptions import DockerError

from platd.runtime import env_firewall
from platd.runtime.base import LABELS, RuntimeError_

__all__ = ["DEFAULT_POOL", "DEFAULT_PREFIX", "EnvNetworks", "free_subnet", "network_name"]

log = logging.getLogger("platd.runtime")

DEFAULT_POOL = "10.213.0.0/16"
DEFAULT_PREFIX = 24
_ATTEMPTS = 8  # subnets tried when other daemons take the ones we picked
# Seconds between an env's last container going and its network going: a stop-first rollout
# removes the old instance before it creates the new one, and must not recreate the network.
RELEASE_DELAY = 60.0


def network_name(env_id: str) -> str:
    return f"plat-env-{env_id}"


def free_subnet(pool: str, prefix: int, taken: Iterable[str]) -> str | None:
    """The first ``/prefix`` subnet of ``pool`` that overlaps none of ``taken`` (None: full)."""
    used = []
    for subnet in taken:
        try:
            used.append(ipaddress.ip_network(subnet, strict=False))
        except ValueError:
            continue
    for candidate in ipaddress.ip_network(pool).subnets(new_prefix=prefix):
        if not any(candidate.overlaps(u) for u in used if u.version == candidate.version):
            return str(candidate)
    return None


class EnvNetworks:
    """Creates and removes the per-env networks on one engine (see the module docstring)."""

    def __init__(self, client: Callable[[], aiodocker.Docker], pool: str = DEFAULT_POOL,
                 prefix: int = DEFAULT_PREFIX) -> None:
        self._client = client
        self._pool = pool
        self._prefix = prefix
        self._lock = asyncio.Lock()
        self.release_delay = RELEASE_DELAY
        self._pending: dict[str, asyncio.Task[None]] = {}
        self._known: set[str] = set()  # names of networks known to exist
        self._firewall_said: str | None = None  # the last reason it could not be loaded

    def forget(self, env_id: str) -> None:
        """The env's network turned out to be gone: the next ``ensure`` looks again."""
        self._known.discard(network_name(env_id))

    async def ensure(self, env_id: str) -> str:
        """The name of the env's network, created if it does not exist yet."""
        name = network_name(env_id)
        if name in self._known:
            return name
        async with self._lock:
            if name in self._known:
                return name
            await self._settle(name)
            if await self._exists(name):
                self._known.add(name)
                return name
            await self.firewall()
            refused: list[str] = []
            for _ in range(_ATTEMPTS):
                subnet = free_subnet(self._pool, self._prefix, await self._subnets() + refused)
                if subnet is None:
                    raise RuntimeError_(
                        f"no free subnet left in the instance network pool {self._pool} for "
                        f"env {env_id}; widen instance_network_pool in platd.toml", "scheduling")
                try:
                    await self._client().networks.create(_config(name, env_id, subnet))
                    await self._settle(name)
                    self._known.add(name)
                    return name
                except DockerError as exc:
                    await self._settle(name)
                    if await self._exists(name):  # another daemon on this engine made it
                        self._known.add(name)
                        return name
                    if "overlap" not in exc.message.lower():
                        raise RuntimeError_(f"creating network {name}: {exc.message}") from exc
                    refused.append(subnet)
                except aiohttp.ClientError as exc:
                    raise RuntimeError_(f"creating network {name}: lost the connection to the "
                                        f"Docker engine ({exc})") from exc
            raise RuntimeError_(f"creating network {name}: every subnet tried was taken "
                                "meanwhile; it is tried again on the next pass")

    async def firewall(self) -> None:
        """Load plat's own table between env networks unless it is in place with this platd's
        rule (see ``env_firewall``: Docker's rules open for a moment whenever a network is
        created). Best effort: a reason it cannot be loaded is logged once, until it changes."""
        try:
            why = await asyncio.to_thread(env_firewall.ensure, self._pool, self._prefix)
        except Exception as e:  # never a reason to fail a deploy: Docker's rules still apply
            why = f"{type(e).__name__}: {e}"
        if why is not None and why != self._firewall_said:
            log.warning("instances of different envs are kept apart by Docker's rules alone, "
                        "which open for a moment whenever a network is created: %s", why)
        self._firewall_said = why

    def release_soon(self, env_id: str) -> None:
        """``release`` after ``release_delay``, if the env still has no container then."""
        if env_id in self._pending:
            return

        async def later() -> None:
            try:
                await asyncio.sleep(self.release_delay)
                await self.release(env_id)
            finally:
                self._pending.pop(env_id, None)

        self._pending[env_id] = asyncio.get_running_loop().create_task(later())

    async def close(self) -> None:
        """Drop the releases still waiting (the next start's ``prune`` does them)."""
        pending = list(self._pending.values())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def release(self, env_id: str) -> None:
        """Remove the env's network if no container of the env is left on the engine, in any
        state: the engine itself only counts running ones, and a stopped or created container
        whose network is gone could not start again (best effort)."""
        async with self._lock:
            with contextlib.suppress(DockerError, aiohttp.ClientError):
                if not await self._env_has_containers(env_id):
                    self._known.discard(network_name(env_id))
                    await (await self._client().networks.get(network_name(env_id))).delete()

    async def prune(self) -> None:
        """Load plat's table between env networks, and remove every plat network whose env has
        no container left on the engine (their containers were removed behind platd's back,
        e.g. ``docker rm``; best effort)."""
        await self.firewall()
        with contextlib.suppress(DockerError, aiohttp.ClientError):
            managed = {"label": [f"{LABELS['managed']}=1"]}
            for network in await self._client().networks.list(filters=managed):
                env_id = (network.get("Labels") or {}).get(LABELS["env"])
                if env_id and network.get("Name") == network_name(env_id):
                    await self.release(env_id)

    async def adopt(self, container_id: str, env_id: str, workload: str,
                    networks: Iterable[str]) -> None:
        """Move a container that a platd without per-env networks created from the engine's
        default bridge onto its env's network, live (upgrades; best effort: a failure leaves
        it where it was, and a later replacement fixes it)."""
        if "bridge" not in networks:
            return
        with contextlib.suppress(DockerError, aiohttp.ClientError, RuntimeError_):
            name = await self.ensure(env_id)
            client = self._client()
            if name not in networks:
                await (await client.networks.get(name)).connect(
                    {"Container": container_id, "EndpointConfig": {"Aliases": [workload]}})
            await (await client.networks.get("bridge")).disconnect(
                {"Container": container_id, "Force": True})

    async def _settle(self, name: str) -> None:
        """Leave one network called ``name`` where racing daemons made several (see the module
        docstring): the one with containers, else the smallest id, the same for every daemon
        (best effort: one that cannot be removed now is removed on a later call)."""
        with contextlib.suppress(DockerError, aiohttp.ClientError):
            client = self._client()
            listed = await client.networks.list(filters={"name": [name]})
            same = sorted(str(n["Id"]) for n in listed if n.get("Name") == name)
            if len(same) < 2:
                return
            used = []
            for net_id in same:
                info = await (await client.networks.get(net_id)).show()
                if info.get("Containers"):
                    used.append(net_id)
            keep = (used or same)[0]
            for net_id in same:
                if net_id != keep:
                    with contextlib.suppress(DockerError):
                        await (await client.networks.get(net_id)).delete()

    async def _env_has_containers(self, env_id: str) -> bool:
        filters = json.dumps({"label": [f"{LABELS['env']}={env_id}"]})
        found = await self._client().containers.list(all=True, filters=filters)
        return bool(found)

    async def _exists(self, name: str) -> bool:
        try:
            await self._client().networks.get(name)
        except DockerError as exc:
            if exc.status == 404:
                return False
            raise RuntimeError_(f"looking up network {name}: {exc.message}") from exc
        except aiohttp.ClientError as exc:
            raise RuntimeError_(f"looking up network {name}: lost the connection to the "
                                f"Docker engine ({exc})") from exc
        return True

    async def _subnets(self) -> list[str]:
        try:
            networks = await self._client().networks.list()
        except (DockerError, aiohttp.ClientError) as exc:
            raise RuntimeError_(f"listing networks: {exc}") from exc
        return [
            str(c["Subnet"])
            for n in networks
            for c in ((n.get("IPAM") or {}).get("Config") or ())
            if c.get("Subnet")
        ]


def _config(name: str, env_id: str, subnet: str) -> dict[str, Any]:
    return {
        "Name": name,
        "CheckDuplicate": True,
        "Driver": "bridge",
        "Labels": {LABELS["managed"]: "1", LABELS["env"]: env_id},
        "IPAM": {"Driver": "default", "Config": [{"Subnet": subnet}]},
    }
