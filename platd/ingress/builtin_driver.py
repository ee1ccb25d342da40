"""Runs the built-in data plane (``Engine`` in builtin.py) as platd's ``IngressDriver``.

Apart from the engine because this half is asyncio and process management (worker processes
sharing ports with SO_REUSEPORT, replacing one that dies, handing each the configuration as a
line of JSON), while the engine is a thread with an epoll loop that never touches asyncio.

One change, several processes: each engine switches when it applies the change, and the
kernel hashes every new connection onto any of them. Where the old and the new backend sets of
a listener share no backend (above all: no instance before, the first healthy one now), a
client could be served by a process that switched and then, on its next connection, be refused
(accepted and closed: a reset, since it had spoken) by one that had not yet; CI saw it as the
IPv4 request reset right after the IPv6 request was answered. So such a change is made in two
steps: every engine applies it with ``hold`` (those listeners stop accepting; connections wait
in the kernel's accept queue, the sockets stay open so none is reset), and once all answered
they are released together. No connection is served by the new set before every process has
it. Other changes need no hold: an engine still on an old set that shares a backend with the
new one reaches an instance that serves (a refusal moves on to the next backend), and an
instance leaves only after every engine dropped it (``IngressController.drain``). Handing one
listening socket to all processes instead of a SO_REUSEPORT group would not help: whichever
process accepts still decides with its own configuration.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import sys
import time
from typing import Any

from platd.ingress.builtin import Engine, apply_locally
from platd.ingress.model import ApplyResult, Backend, IngressConfig, Listener

log = logging.getLogger("platd.ingress")


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 4))


class BuiltinDriver:
    """The ``IngressDriver`` that runs ``Engine`` inside platd, plus worker processes.

    With ``workers`` > 1, ``workers - 1`` more engines run in processes of their own
    (``platd.ingress.worker``), listening on the same addresses with SO_REUSEPORT, so the kernel
    spreads new connections over them and the proxy uses more than one core without the GIL in
    the way. Every worker applies every change before ``apply`` returns.
    """

    name = "builtin"

    def __init__(self, workers: int = 0) -> None:
        self.engine = Engine()
        self.workers = workers or default_workers()
        self._procs: list[asyncio.subprocess.Process] = []
        self._watchers: set[asyncio.Task[None]] = set()
        self._last_line = b""  # the configuration every worker has applied, without hold
        self._started = False
        self._closing = False
        self._lock = asyncio.Lock()
        self.restarts = 0  # worker processes replaced after they died
        self._warned_hops = False

    async def start(self) -> None:
        if self._started:
            return
        self.engine.start()
        self._started = True

    async def _spawn_workers(self) -> None:
        # Lazily, with the first listener: a host without endpoints runs no extra process.
        for _ in range(self.workers - 1):
            await self._spawn_one()

    async def _spawn_one(self) -> asyncio.subprocess.Process:
        import platd

        # Where platd is imported from (a checkout, site-packages, or the single-file zip).
        root = os.path.dirname(os.path.dirname(os.path.abspath(platd.__file__)))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "platd.ingress.worker",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            start_new_session=True, env=env,
        )
        self._procs.append(proc)
        watcher = asyncio.create_task(self._watch(proc, time.monotonic()))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)
        return proc

    async def _watch(self, proc: asyncio.subprocess.Process, born: float) -> None:
        """Replaces a worker that dies (killed, out of memory, a bug) while platd runs.

        Its listening sockets left the SO_REUSEPORT group when it died, so the kernel already
        sends new connections to the others and none are refused; only capacity is lost, and
        connections it was carrying. One that dies within seconds of starting is replaced
        after a pause, so a worker that cannot start does not spin.
        """
        code = await proc.wait()
        if self._closing:
            return
        log.warning("ingress: built-in worker %d exited (code %s); starting another",
                    proc.pid, code)
        if time.monotonic() - born < 5:
            await asyncio.sleep(5)
        async with self._lock:
            if self._closing:
                return
            self._procs.remove(proc)
            new = await self._spawn_one()
            self.restarts += 1
            if self._last_line:
                # Its listeners are new: they open with the current backends, nothing to hold.
                await self._send(new, self._last_line)

    async def _send(self, proc: asyncio.subprocess.Process, line: bytes) -> dict[str, Any]:
        """One request line to a worker, and its answer (empty if it gave none)."""
        assert proc.stdin is not None
        assert proc.stdout is not None
        try:
            proc.stdin.write(line)
            async with asyncio.timeout(10):
                answer = await proc.stdout.readline()
        except (TimeoutError, ConnectionError):
            answer = b""
        if not answer:
            log.warning("ingress: built-in worker %d did not apply a change", proc.pid)
            return {}
        parsed: dict[str, Any] = json.loads(answer)
        return parsed

    async def apply(self, config: IngressConfig) -> ApplyResult:
        config = self._local_only(config)
        async with self._lock:
            if config.listeners and not self._procs and self.workers > 1:
                await self._spawn_workers()
            alive = [p for p in self._procs if p.returncode is None]
            hold = bool(alive)  # one engine alone switches at once: nothing to hold
            result, held = await asyncio.to_thread(apply_locally, self.engine, config, hold)
            # Workers bind only what the main engine could bind: what failed is reported once.
            ok = IngressConfig(tuple(x for x in config.listeners if x.key not in result.failed))
            self._last_line = _line({"listeners": config_to_wire(ok), "hold": False})
            line = _line({"listeners": config_to_wire(ok), "hold": hold})
            try:
                answers = await asyncio.gather(*(self._send(proc, line) for proc in alive))
                if held or any(a.get("held") for a in answers):
                    release = _line({"release": True})
                    await asyncio.gather(asyncio.wrap_future(self.engine.release()),
                                         *(self._send(proc, release) for proc in alive))
            except BaseException:
                self.engine.release()  # a later change releases the workers (held is all held)
                raise
            return result

    async def close(self) -> None:
        if not self._started:
            return
        self._closing = True
        for watcher in list(self._watchers):
            watcher.cancel()
        for proc in self._procs:
            if proc.returncode is None and proc.stdin is not None:
                proc.stdin.close()  # a worker exits when platd goes away
        for proc in self._procs:
            try:
                async with asyncio.timeout(10):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        self._procs.clear()
        await asyncio.to_thread(self.engine.stop)
        self._started = False
        self._closing = False


    def _local_only(self, config: IngressConfig) -> IngressConfig:
        """Cross-host endpoints need hops, which only the haproxy driver has: the built-in
        proxy serves an endpoint's instances on this host, and says once that it does."""
        hops = any(b.hop for lst in config.listeners for b in lst.backends)
        if (hops or config.hop is not None) and not self._warned_hops:
            self._warned_hops = True
            log.warning("ingress: endpoints reach instances on other hosts only with "
                        "ingress_driver = \"haproxy\"; the built-in proxy serves this "
                        "host's instances only")
        if not hops and config.hop is None:
            return config
        return IngressConfig(tuple(
            dataclasses.replace(lst, backends=tuple(b for b in lst.backends if not b.hop))
            for lst in config.listeners))


def _line(request: dict[str, object]) -> bytes:
    return (json.dumps(request) + "\n").encode()


def config_to_wire(config: IngressConfig) -> list[dict[str, object]]:
    return [dataclasses.asdict(lst) for lst in config.listeners]


def config_from_wire(data: list[dict[str, Any]]) -> IngressConfig:
    out = []
    for raw in data:
        fields = dict(raw)
        backends = tuple(Backend(**b) for b in fields.pop("backends"))
        out.append(Listener(**fields, backends=backends))
    return IngressConfig(tuple(out))
