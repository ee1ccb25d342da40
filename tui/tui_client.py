"""How TUI workers reach the daemon: one ``Client`` per thread, as a connection is not shared;
and the first screen's answer, asked for before the app is up.

The HTTP client is imported in the workers' threads, not by the app's module: bare ``plat``
draws its first frame without waiting for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from platd.spec.errors import PlatError

if TYPE_CHECKING:
    from tui.client import Client

ClientFactory = Callable[[], "Client"]


class Prefetch:
    """The env's status, asked for in a thread as soon as bare ``plat`` starts: platd answers
    while Textual loads, and the Status panel's first poll takes that answer
    (``ThreadClients.call``) instead of asking again."""

    def __init__(self, api: str, token: str | None, target: str | None) -> None:
        self._answers: dict[str, tuple[bool, Any]] = {}
        self._done = threading.Event()
        self.path: str | None = None  # of the status asked for
        if not target:
            self._done.set()
            return
        threading.Thread(target=self._fetch, args=(api, token, target), name="plat-prefetch",
                         daemon=True).start()

    def _fetch(self, api: str, token: str | None, target: str) -> None:
        try:
            from tui.client import Client

            client = Client(api, token)
            path = self.path = client.env_path(target, "/status")
            try:
                self._answers[path] = (True, client.request("GET", path))
            except PlatError as e:
                self._answers[path] = (False, e)
            client.close()
        finally:
            self._done.set()

    def peek(self, timeout: float) -> tuple[bool, Any] | None:
        """The status answer, (True, answer) or (False, error), if it comes within ``timeout``
        seconds; it stays for ``take`` (the frame painted before Textual shows it too)."""
        self._done.wait(timeout)
        return self._answers.get(self.path) if self.path and self._done.is_set() else None

    def take(self, path: str, wait: bool = True) -> tuple[bool, Any] | None:
        """(True, answer) or (False, error) for ``path`` if it was asked for, once; without
        ``wait``, only if it has already come."""
        if wait:
            self._done.wait()
        elif not self._done.is_set():
            return None
        return self._answers.pop(path, None)


class ThreadClients:
    def __init__(self, factory: ClientFactory, prefetch: Prefetch | None = None) -> None:
        self._factory = factory
        self._prefetch = prefetch
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

    def early(self, path: str) -> tuple[bool, Any] | None:
        """The prefetched answer for ``path`` if it has come already (for the first frame)."""
        return self._prefetch.take(path, wait=False) if self._prefetch is not None else None

    def call(self, method: str, path: str, **kw: Any) -> Any:
        if self._prefetch is not None and method == "GET" and not kw:
            early = self._prefetch.take(path)
            if early is not None:
                ok, answer = early
                if ok:
                    return answer
                raise answer
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
