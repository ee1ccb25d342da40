"""What every request handler may need, built once by ``platd serve``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from platd.datadir import DataDir, HostSettings
from platd.secrets.crypto import SecretBox
from platd.store.db import Store

Resolver = Callable[[str], Awaitable[str]]
Builder = Callable[[bytes, str, str], Awaitable[str]]


class ChangeFeed:
    """Wakes long-polling followers after any commit to the state database."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event = asyncio.Event()

    def attach(self, store: Store) -> None:
        self._loop = asyncio.get_running_loop()
        store.listeners.append(self.notify)

    def notify(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._fire)

    def _fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)


@dataclass
class DaemonContext:
    data: DataDir
    store: Store
    box: SecretBox
    settings: HostSettings
    host: dict[str, Any]
    resolve_image: Resolver
    build_image: Builder | None = None
    feed: ChangeFeed = field(default_factory=ChangeFeed)
    reconciler: Any = None
    logs: Any = None  # platd.logs.LogService
    volumes: Any = None  # platd.volumes.VolumeBackend
    ingress: Any = None  # platd.ingress.controller.IngressController
