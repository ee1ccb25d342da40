"""The boundary between the reconciler and whatever runs containers.

The reconciler only ever talks to a ``Runtime``: ``docker.DockerRuntime`` is the real one
(aiodocker against the local engine), ``fake.FakeRuntime`` a small in-memory one for unit tests of
the control loop. Everything the reconciler must know after a crash is written into container
labels (``LABELS``), so ``list_instances`` can rebuild the whole picture from the engine alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

# Label keys carried by every container plat creates.
LABEL_PREFIX = "dev.plat."
LABELS = {
    "managed": LABEL_PREFIX + "managed",  # "1"
    "host": LABEL_PREFIX + "host",  # host id that owns the container
    "env": LABEL_PREFIX + "env",  # env id
    "env_path": LABEL_PREFIX + "env-path",  # org/project/app/env, for people reading docker ps
    "workload": LABEL_PREFIX + "workload",
    "release": LABEL_PREFIX + "release",  # release id
    "instance": LABEL_PREFIX + "instance",  # instance id
    "spec": LABEL_PREFIX + "spec",  # spec hash: release + scale + config generation
    "volumes": LABEL_PREFIX + "volumes",  # names of the volumes it mounts, comma-separated
}

ContainerState = Literal["created", "running", "restarting", "paused", "exited", "dead", "removing"]


@dataclass(frozen=True)
class InstanceSpec:
    """Everything needed to create one container for one instance."""

    instance_id: str
    host_id: str
    env_id: str
    env_path: str  # "org/project/app/env"
    workload: str
    release_id: str
    spec_hash: str
    image: str  # pinned reference: "registry/repo@sha256:..."
    command: tuple[str, ...] | None
    env: dict[str, str]
    cpu: float  # cores; 0 means unlimited
    memory: int  # bytes; 0 means unlimited
    # Container port -> host port on 127.0.0.1 (0 picks a free one).
    publish: dict[int, int] = field(default_factory=dict)
    # Files to bind read-only into the container: container path -> host path.
    files: dict[str, str] = field(default_factory=dict)
    # Volume mounts: container path -> host path (read-write).
    mounts: dict[str, str] = field(default_factory=dict)
    # Volume mounts that are read-only: container path -> host path.
    read_only_mounts: dict[str, str] = field(default_factory=dict)
    volumes: tuple[str, ...] = ()  # names of the volumes mounted, for the label

    @property
    def container_name(self) -> str:
        app_env = self.env_path.split("/", 2)[-1].replace("/", "-")
        return f"plat-{app_env}-{self.workload}-{self.instance_id}"

    def labels(self) -> dict[str, str]:
        return {
            LABELS["managed"]: "1",
            LABELS["host"]: self.host_id,
            LABELS["env"]: self.env_id,
            LABELS["env_path"]: self.env_path,
            LABELS["workload"]: self.workload,
            LABELS["release"]: self.release_id,
            LABELS["instance"]: self.instance_id,
            LABELS["spec"]: self.spec_hash,
        } | ({LABELS["volumes"]: ",".join(self.volumes)} if self.volumes else {})


@dataclass(frozen=True)
class ObservedContainer:
    """One plat-managed container as the engine reports it."""

    container_id: str
    instance_id: str
    host_id: str
    env_id: str
    workload: str
    release_id: str
    spec_hash: str
    state: ContainerState
    exit_code: int | None = None
    oom_killed: bool = False
    started_at: float | None = None  # unix seconds
    finished_at: float | None = None
    ip: str | None = None  # address on the engine's bridge network, reachable from the host
    published: dict[int, int] = field(default_factory=dict)  # container port -> host port
    memory: int = 0  # the memory limit it was created with (bytes; 0 = none), for capacity
    volumes: tuple[str, ...] = ()  # names of the volumes it mounts (from its label)


@dataclass(frozen=True)
class RuntimeEvent:
    """A container lifecycle change: start, die, oom, destroy..."""

    container_id: str
    action: str
    instance_id: str | None = None
    exit_code: int | None = None


@dataclass(frozen=True)
class HostCapacity:
    cpus: float
    memory: int  # bytes


class ExecSession(Protocol):
    """A process started by ``Runtime.exec`` inside a running container (see docs/exec.md).

    ``read`` gives ``(1, stdout)`` or ``(2, stderr)`` chunks (a TTY merges both into 1) and None
    once the process closed its output; ``wait`` then gives the exit code (None if unknown).
    """

    async def read(self) -> tuple[int, bytes] | None: ...
    async def write(self, data: bytes) -> None: ...
    async def close_stdin(self) -> None: ...
    async def resize(self, rows: int, cols: int) -> None: ...
    async def signal(self, signum: int) -> None: ...
    async def wait(self) -> int | None: ...

    async def close(self) -> None:
        """Release the session; a process still running is hung up (SIGHUP, later SIGKILL)."""
        ...


@dataclass(frozen=True, slots=True)
class LogBatch:
    """Lines a container wrote, in order, and the opaque cursor that resumes just after them.

    Each line is ``(unix ns, stream, text, continues)``: stream 1 is stdout and 2 stderr; the
    text has no trailing newline; ``continues`` marks a piece of an overlong line whose rest is
    the next line of the same stream.
    """

    lines: list[tuple[int, int, str, bool]]
    cursor: str


class RuntimeError_(Exception):
    """A runtime call failed; ``category`` is one of image, runtime, scheduling."""

    def __init__(self, message: str, category: str = "runtime") -> None:
        super().__init__(message)
        self.category = category


class ImageMissing(RuntimeError_):
    """The image a container needs is not on this host (removed outside platd, or never pulled).

    The reconciler remembers which images it has; this tells it that memory is stale."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "image")


class Runtime(Protocol):
    async def list_instances(self, host_id: str) -> list[ObservedContainer]:
        """All containers labelled as managed by plat for this host, in any state."""
        ...

    async def has_image(self, image: str) -> bool: ...

    async def pull(self, image: str) -> None:
        """Pull a pinned reference; raises RuntimeError_(category="image") on failure."""
        ...

    async def create(self, spec: InstanceSpec) -> str:
        """Create (not start) the container; returns its id. Raises ImageMissing when the
        image is not on this host."""
        ...

    async def start(self, container_id: str) -> None: ...

    async def stop(self, container_id: str, timeout: float = 10.0) -> None:
        """Stop gracefully (SIGTERM, then SIGKILL after timeout); no error if already stopped."""
        ...

    async def remove(self, container_id: str) -> None:
        """Remove a stopped container; no error if it is already gone."""
        ...

    async def inspect(self, container_id: str) -> ObservedContainer | None: ...

    async def tail_logs(self, container_id: str, lines: int = 20) -> list[str]:
        """The last lines of the container's stdout and stderr, oldest first."""
        ...

    def follow_logs(
        self, container_id: str, cursor: str | None, stop: asyncio.Event
    ) -> AsyncIterator[LogBatch]:
        """The container's stdout and stderr from just after ``cursor`` (None: from its first
        line), in order, following it across restarts. Ends when the container is gone, or when
        ``stop`` is set and everything it wrote until then has been yielded."""
        ...

    def events(self, host_id: str | None = None) -> AsyncIterator[RuntimeEvent]:
        """Lifecycle events of plat-managed containers (with ``host_id``: only of those that
        host owns), forever."""
        ...

    async def exec(
        self, container_id: str, cmd: Sequence[str], *, tty: bool, stdin: bool,
        env: Mapping[str, str] | None = None, rows: int = 0, cols: int = 0,
    ) -> ExecSession:
        """Start ``cmd`` in a running container; RuntimeError_ if it cannot be started."""
        ...

    async def capacity(self) -> HostCapacity: ...

    async def prepare_env(self, env_id: str) -> None:
        """Get ready to run the env's instances before the first one is asked for (the Docker
        runtime makes the env's network), so its first deploy does not wait for that; raises
        RuntimeError_ (the create that needs it tries again)."""
        ...

    def release_env(self, env_id: str) -> None:
        """The env is gone: undo ``prepare_env`` once none of its containers is left."""
        ...

    async def close(self) -> None: ...
