"""The ingress controller: keeps the data plane in step with endpoints and healthy instances.

After any commit to the state database (an endpoint created or deleted, a deploy, an instance
becoming healthy or going away) it recomputes the whole ``IngressConfig`` and hands it to the
driver when it changed. Before the reconciler stops an instance, ``drain`` takes the instance
out of every backend set and waits until the driver applied that, so no new connection reaches
an instance that is about to get SIGTERM; its open connections finish on their own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from platd.clock import Clock
from platd.ingress.config import DEFAULT_HOP_PORT, build_config
from platd.ingress.driver import IngressDriver
from platd.ingress.model import IngressConfig
from platd.store import eventlog
from platd.store.changes import ChangeSet
from platd.store.db import Store
from platd.store.models import EndpointRow

log = logging.getLogger("platd.ingress")

RESYNC = 5.0
# What ``build_config`` reads: live paths, endpoints, hosts (hops) and instances.
INGRESS_TABLES = frozenset({"orgs", "projects", "apps", "envs", "endpoints", "hosts",
                            "instances"})


class IngressController:
    def __init__(self, store: Store, driver: IngressDriver, clock: Clock, *,
                 alive: Callable[[], Iterable[str]] | None = None,
                 hop_port: int = DEFAULT_HOP_PORT) -> None:
        self.store = store
        # On a cluster: the hosts gossip says are alive (their instances are reached through
        # their hops; changes are seen within RESYNC seconds), and the hops' port.
        self.alive = alive
        self.hop_port = hop_port
        self.driver = driver
        self.clock = clock
        self.current: IngressConfig | None = None
        self.failed: dict[tuple[str, str, int], str] = {}
        self._draining: dict[str, float] = {}  # instance id -> when draining began
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self.applies = 0
        self._applied_at = -RESYNC

    def poke(self, changes: object = None) -> None:
        # Only what an ingress config is built from wakes a sync (a deploy's release rows, a
        # config version or an event do not).
        if isinstance(changes, ChangeSet) and changes and not any(
            ids and table in INGRESS_TABLES for table, ids in changes.tables.items()
        ):
            return
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.driver.start()
        self.store.listeners.append(self.poke)
        try:
            while True:
                self._wake.clear()
                await self.sync()
                try:
                    async with asyncio.timeout(RESYNC):
                        await self._wake.wait()
                except TimeoutError:
                    pass
        finally:
            self.store.listeners.remove(self.poke)
            await self.driver.close()

    async def sync(self) -> None:
        """Compute the desired config and apply it if it changed."""
        async with self._lock:
            alive = list(self.alive()) if self.alive is not None else None
            config = await asyncio.to_thread(
                build_config, self.store, self.store.host_id, frozenset(self._draining),
                alive=alive, hop_port=self.hop_port,
            )
            self._forget_gone(config)
            now = asyncio.get_running_loop().time()
            if config == self.current and now - self._applied_at < RESYNC:
                return
            # Unchanged configs are still handed over every RESYNC seconds: a driver whose
            # process died (haproxy) starts it again; for the rest it is a cheap no-op.
            self._applied_at = now
            result = await self.driver.apply(config)
            self.current = config
            self.applies += 1
            new_failures = {k: v for k, v in result.failed.items() if self.failed.get(k) != v}
            self.failed = dict(result.failed)
        for key, why in new_failures.items():
            await self._report(config, key, why)

    def _forget_gone(self, config: IngressConfig) -> None:
        # Once an instance is out of every backend set for another reason (its row is gone),
        # it no longer needs to be held out.
        if not self._draining:
            return
        routes = config.hop.routes if config.hop is not None else ()
        present = {b.instance_id for lst in (*config.listeners, *routes) for b in lst.backends}
        loop = asyncio.get_running_loop()
        for instance_id, since in list(self._draining.items()):
            if instance_id not in present and loop.time() - since > 60:
                del self._draining[instance_id]

    async def drain(self, instance_id: str) -> None:
        """Stop sending new connections to ``instance_id``; returns once the driver did."""
        self._draining[instance_id] = asyncio.get_running_loop().time()
        if self.current is None:
            return
        routes = self.current.hop.routes if self.current.hop is not None else ()
        if not any(b.instance_id == instance_id
                   for lst in (*self.current.listeners, *routes) for b in lst.backends):
            return
        await self.sync()

    async def _report(self, config: IngressConfig, key: tuple[str, str, int], why: str) -> None:
        lst = config.by_key().get(key)
        if lst is None:
            if config.hop is not None and key == config.hop.key:
                log.warning("ingress: the hop for endpoints served by other hosts cannot "
                            "listen on %s: %s (set hop_port in platd.toml)", config.hop.bind,
                            why)
            return
        log.warning("ingress: %s: %s", lst.name, why)
        message = (f"endpoint {lst.name.rsplit(' ', 1)[-1]} cannot listen on {lst.bind}: "
                   f"{why}")
        await asyncio.to_thread(self._record_failure, lst.endpoint_id, message)

    def _record_failure(self, endpoint_id: str, message: str) -> None:
        with self.store.write() as session:
            row = session.get(EndpointRow, endpoint_id)
            if row is not None:
                eventlog.record(session, self.clock, env_id=row.env_id, step="endpoint",
                                outcome="failed", category="runtime", message=message)


def make_driver(kind: str, run_dir: Path) -> IngressDriver:
    if kind == "haproxy":
        from platd.ingress.haproxy import HaproxyDriver

        return HaproxyDriver(run_dir)
    from platd.ingress.builtin_driver import BuiltinDriver

    return BuiltinDriver()
