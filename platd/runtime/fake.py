"""An in-memory ``Runtime`` for unit tests of the control loop.

It behaves like ``DockerRuntime`` where the reconciler can tell (idempotent create by name, no
error stopping or removing what is already stopped or gone, pull failures of category "image",
lifecycle events), and lets a test do what a real engine does on its own: crash a container
(``crash``), fail a call (``fail_next``), change capacity (``host_capacity``). Every call is
appended to ``calls`` so tests can assert on what the executor did, in order.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from platd.runtime.base import (
    ContainerState,
    HostCapacity,
    ImageMissing,
    InstanceSpec,
    LogBatch,
    ObservedContainer,
    RuntimeError_,
    RuntimeEvent,
)

if TYPE_CHECKING:
    from platd.runtime.base import Runtime

__all__ = ["FakeContainer", "FakeExec", "FakeRuntime"]


@dataclass
class FakeContainer:
    id: str
    spec: InstanceSpec
    state: ContainerState = "created"
    exit_code: int | None = None
    oom_killed: bool = False
    started_at: float | None = None
    finished_at: float | None = None
    logs: list[str] = field(default_factory=list)
    ip: str = ""

    def observed(self) -> ObservedContainer:
        s = self.spec
        published = {port: host or 40000 + port for port, host in s.publish.items()}
        return ObservedContainer(
            container_id=self.id,
            instance_id=s.instance_id,
            host_id=s.host_id,
            env_id=s.env_id,
            workload=s.workload,
            release_id=s.release_id,
            spec_hash=s.spec_hash,
            state=self.state,
            exit_code=self.exit_code,
            oom_killed=self.oom_killed,
            started_at=self.started_at,
            finished_at=self.finished_at,
            ip=self.ip if self.state == "running" else None,
            published=published if self.state == "running" else {},
            memory=s.memory,
            volumes=s.volumes,
        )


class FakeExec:
    """A process in a fake container: with stdin it echoes what it reads until stdin closes,
    without it prints its command line; it exits with N when its last argument is ``exit N``.
    Resizes and signals are recorded; SIGINT, SIGHUP and SIGKILL end it with 128 + signal."""

    def __init__(
        self, cmd: tuple[str, ...], *, tty: bool, stdin: bool, size: tuple[int, int]
    ) -> None:
        self.cmd, self.tty, self.stdin = cmd, tty, stdin
        self.sizes: list[tuple[int, int]] = [size]
        self.signals: list[int] = []
        self.closed = False
        last = cmd[-1] if cmd else ""
        self.exit_code: int | None = int(last[5:]) if re.fullmatch(r"exit \d+", last) else 0
        self._out: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        if not stdin:
            self._out.put_nowait((1, " ".join(cmd).encode() + b"\n"))
            self._out.put_nowait(None)

    async def read(self) -> tuple[int, bytes] | None:
        return await self._out.get()

    async def write(self, data: bytes) -> None:
        self._out.put_nowait((1, data))

    async def close_stdin(self) -> None:
        self._out.put_nowait(None)

    async def resize(self, rows: int, cols: int) -> None:
        self.sizes.append((rows, cols))

    async def signal(self, signum: int) -> None:
        self.signals.append(signum)
        if signum in (2, 1, 9):  # SIGINT, SIGHUP, SIGKILL
            self.exit_code = 128 + signum
            self._out.put_nowait(None)

    async def wait(self) -> int | None:
        return self.exit_code

    async def close(self) -> None:
        self.closed = True


class FakeRuntime:
    """``images`` are the references a pull can find; ``clock`` stamps start and finish times."""

    def __init__(
        self,
        images: Iterable[str] = (),
        *,
        host_capacity: HostCapacity | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.images: set[str] = set(images)  # in the registry
        self.local_images: set[str] = set()  # pulled onto this host
        self.containers: dict[str, FakeContainer] = {}
        self.host_capacity = host_capacity or HostCapacity(cpus=4.0, memory=8 * 1024**3)
        self.calls: list[tuple[Any, ...]] = []
        self.failures: dict[str, RuntimeError_] = {}
        self._clock = clock
        self._ids = itertools.count(1)
        self._events: asyncio.Queue[RuntimeEvent] = asyncio.Queue()
        self.execs: list[FakeExec] = []
        self.prepared_envs: list[str] = []  # prepare_env calls, in order
        self.released_envs: list[str] = []  # release_env calls, in order

    # --- what a test does to it ---------------------------------------------------------------

    def fail_next(self, method: str, error: RuntimeError_) -> None:
        """Make the next call of ``method`` (e.g. "start") raise ``error``."""
        self.failures[method] = error

    def crash(self, container_id: str, exit_code: int = 1, *, oom: bool = False) -> None:
        """The container's process dies on its own, as the engine would report it."""
        c = self.containers[container_id]
        c.state, c.exit_code, c.oom_killed, c.finished_at = "exited", exit_code, oom, self._clock()
        if oom:
            self._emit(c, "oom")
        self._emit(c, "die", exit_code)

    # --- Runtime --------------------------------------------------------------------------------

    async def list_instances(self, host_id: str) -> list[ObservedContainer]:
        self._call("list_instances", host_id)
        return [c.observed() for c in self.containers.values() if c.spec.host_id == host_id]

    async def prepare_env(self, env_id: str) -> None:
        self.prepared_envs.append(env_id)

    def release_env(self, env_id: str) -> None:
        self.released_envs.append(env_id)

    async def has_image(self, image: str) -> bool:
        self._call("has_image", image)
        return image in self.local_images

    async def pull(self, image: str) -> None:
        self._call("pull", image)
        if image not in self.images:
            raise RuntimeError_(f"cannot pull {image}: not found in the registry", "image")
        self.local_images.add(image)

    async def create(self, spec: InstanceSpec) -> str:
        self._call("create", spec.container_name)
        for c in self.containers.values():
            if c.spec.container_name == spec.container_name:
                return c.id
        if spec.image not in self.local_images:
            raise ImageMissing(f"cannot create: image {spec.image} is not on this host")
        n = next(self._ids)
        cid = f"fake{n:060d}"
        self.containers[cid] = FakeContainer(cid, spec, ip=f"10.88.0.{n % 250 + 2}")
        return cid

    async def start(self, container_id: str) -> None:
        c = self._get("start", container_id)
        if c.state != "running":
            c.state, c.exit_code, c.started_at = "running", None, self._clock()
            c.logs.append(f"started {c.spec.container_name}")
            self._emit(c, "start")

    async def stop(self, container_id: str, timeout: float = 10.0) -> None:
        self._call("stop", container_id)
        c = self.containers.get(container_id)
        if c is not None and c.state == "running":
            c.state, c.exit_code, c.finished_at = "exited", 0, self._clock()
            self._emit(c, "die", 0)
            self._emit(c, "stop")

    async def remove(self, container_id: str) -> None:
        self._call("remove", container_id)
        c = self.containers.pop(container_id, None)
        if c is not None:
            if c.state == "running":
                self._emit(c, "die", 137)
            self._emit(c, "destroy")

    async def inspect(self, container_id: str) -> ObservedContainer | None:
        self._call("inspect", container_id)
        c = self.containers.get(container_id)
        return c.observed() if c is not None else None

    async def tail_logs(self, container_id: str, lines: int = 20) -> list[str]:
        c = self._get("tail_logs", container_id)
        return c.logs[-lines:] if lines > 0 else []

    async def follow_logs(
        self, container_id: str, cursor: str | None, stop: asyncio.Event
    ) -> AsyncGenerator[LogBatch, None]:
        """``logs`` entries as stdout lines; the cursor is how many were yielded."""
        self._call("follow_logs", container_id)
        done = int(cursor.rpartition(":")[2]) if cursor and cursor.startswith("fake:") else 0
        while True:
            c = self.containers.get(container_id)
            ending = stop.is_set() or c is None
            if c is not None and len(c.logs) > done:
                now = time.time_ns()
                lines = [(now, 1, text, False) for text in c.logs[done:]]
                done = len(c.logs)
                yield LogBatch(lines, f"fake:{done}")
            elif ending:
                return
            else:
                await asyncio.sleep(0.01)

    async def events(self, host_id: str | None = None) -> AsyncGenerator[RuntimeEvent, None]:
        while True:
            yield await self._events.get()

    async def exec(
        self, container_id: str, cmd: Sequence[str], *, tty: bool, stdin: bool,
        env: Mapping[str, str] | None = None, rows: int = 0, cols: int = 0,
    ) -> FakeExec:
        c = self._get("exec", container_id)
        if c.state != "running":
            raise RuntimeError_(f"container {container_id} is not running (it is {c.state})")
        session = FakeExec(tuple(cmd), tty=tty, stdin=stdin, size=(rows, cols))
        self.execs.append(session)
        return session

    async def capacity(self) -> HostCapacity:
        self._call("capacity")
        return replace(self.host_capacity)

    async def close(self) -> None:
        self._call("close")

    # --- helpers --------------------------------------------------------------------------------

    def _call(self, method: str, *args: Any) -> None:
        self.calls.append((method, *args))
        failure = self.failures.pop(method, None)
        if failure is not None:
            raise failure

    def _get(self, method: str, container_id: str) -> FakeContainer:
        self._call(method, container_id)
        c = self.containers.get(container_id)
        if c is None:
            raise RuntimeError_(f"{method} {container_id}: no such container")
        return c

    def _emit(self, c: FakeContainer, action: str, exit_code: int | None = None) -> None:
        self._events.put_nowait(RuntimeEvent(c.id, action, c.spec.instance_id, exit_code))


if TYPE_CHECKING:

    def _conforms(runtime: FakeRuntime) -> Runtime:
        return runtime
