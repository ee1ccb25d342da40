"""How TUI workers reach the daemon: one ``Client`` per thread, since http.client is not shared."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from tui.client import Client

ClientFactory = Callable[[], Client]


class ThreadClients:
    def __init__(self, factory: ClientFactory) -> None:
        self._factory = factory
        self._local = threading.local()

    def get(self) -> Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._factory()
            self._local.client = client
        return client

    def call(self, method: str, path: str, **kw: Any) -> Any:
        return self.get().request(method, path, **kw)
