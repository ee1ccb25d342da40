"""How TUI workers reach the daemon: one ``Client`` per thread, as a connection is not shared."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from tui.client import Client

ClientFactory = Callable[[], Client]


class ThreadClients:
    def __init__(self, factory: ClientFactory) -> None:
        self._factory = factory
        self._local = threading.local()
        self._all: list[Client] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()

    @property
    def closed(self) -> bool:
        return self._closing.is_set()

    def sleep(self, seconds: float) -> bool:
        """Wait between polls; False at once when the app is quitting."""
        return not self._closing.wait(seconds)

    def next_poll(self, seconds: float, panel: object) -> None:
        """Wait ``seconds``, then as long as ``panel`` is on a tab nobody looks at (its
        ``in_view`` is False): hidden panels keep the data they have and cost nothing."""
        self.sleep(seconds)
        while getattr(panel, "in_view", True) is False and self.sleep(0.2):
            pass

    def get(self) -> Client:
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            client = self._factory()
            self._local.client = client
            with self._lock:
                self._all.append(client)
                if self.closed:
                    client.abort()
        return client

    def abort_all(self) -> None:
        """End every request in flight (long polls included) and refuse new ones: the app is
        quitting, and Python waits for worker threads before the process can exit."""
        with self._lock:
            self._closing.set()
            clients = list(self._all)
        for client in clients:
            client.abort()

    def call(self, method: str, path: str, **kw: Any) -> Any:
        return self.get().request(method, path, **kw)

    def cancel_for(self, worker: Any) -> WorkerCancel:
        """The ``Cancel`` of a follow run by ``worker``: set when the worker is cancelled (its
        panel started another follow) or the app is quitting."""
        return WorkerCancel(self, worker)


class WorkerCancel:
    """``tui.follow.Cancel`` for a Textual worker, whose cancellation is a flag, not an event."""

    SLICE = 0.1  # how soon a pause notices a cancelled worker

    def __init__(self, clients: ThreadClients, worker: Any) -> None:
        self._clients = clients
        self._worker = worker

    def is_set(self) -> bool:
        return bool(self._worker.is_cancelled) or self._clients.closed

    def wait(self, timeout: float | None = None) -> bool:
        deadline = time.monotonic() + (timeout or 0.0)
        while not self.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._clients.sleep(min(left, self.SLICE))
        return True
