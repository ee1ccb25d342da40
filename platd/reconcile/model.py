"""What the planner reasons about: desired workloads, observed instances, and actions.

These are plain frozen dataclasses with no behaviour, so a planner test is a table of values in
and a list of actions out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from platd.spec.manifest import HealthCheck

Health = Literal["starting", "healthy", "unhealthy", "none"]


@dataclass(frozen=True)
class VolumeBinding:
    """A volume one workload mounts: where it is on the host and whether it can be mounted now."""

    name: str
    source: str  # host path bind-mounted into the instance ("" if the volume is not here)
    target: str  # the mount path inside the instance
    read_only: bool = False
    problem: str | None = None  # why instances cannot mount it now (missing, elsewhere, unmounted)


@dataclass(frozen=True)
class DesiredWorkload:
    """One workload of one env's current release, with env-level scale applied."""

    env_id: str
    env_path: str
    workload: str
    release_id: str
    release_seq: int
    spec_hash: str  # changes whenever instances must be replaced (release, cpu, memory)
    count: int
    image: str
    cpu: float
    memory: int
    health: HealthCheck | None = None
    command: tuple[str, ...] | None = None
    env: dict[str, str] = field(default_factory=dict)
    secret_versions: dict[str, str] = field(default_factory=dict)  # bundle -> version id
    publish: tuple[int, ...] = ()  # container ports published on loopback
    release_failed: bool = False  # this release already failed here: do not try again
    release_converged: bool = False  # it converged here once: crashes are restarts, not failure
    release_degraded: bool = False  # it converged, then crash-looped within the watch window
    converged_at: float | None = None  # when it converged here (starts the watch window)
    min_ready: float = 0.0  # seconds an instance must stay up to count as ready
    volumes: tuple[VolumeBinding, ...] = ()
    # Of ``count``, how many are surplus a cluster member keeps only while they still run (slots
    # that moved away, kept until their replacements are healthy): never created for.
    surplus: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.env_id, self.workload)

    @property
    def stop_first(self) -> bool:
        """A read-write volume is mounted by one instance at a time: replace stop-first."""
        return any(not v.read_only for v in self.volumes)


@dataclass(frozen=True)
class InstanceView:
    """One container as observed, with what the health prober and restart ledger know."""

    instance_id: str
    container_id: str
    env_id: str
    workload: str
    release_id: str
    spec_hash: str
    state: str  # created | running | restarting | paused | exited | dead | removing
    health: Health = "none"
    health_reason: str | None = None
    restarts: int = 0
    exit_code: int | None = None
    oom_killed: bool = False
    started_at: float | None = None
    finished_at: float | None = None
    memory: int = 0  # reserved bytes, for capacity accounting
    volumes: tuple[str, ...] = ()  # names of the volumes it mounts

    @property
    def key(self) -> tuple[str, str]:
        return (self.env_id, self.workload)

    @property
    def alive(self) -> bool:
        return self.state in ("created", "running", "restarting", "paused")


@dataclass(frozen=True)
class Capacity:
    cpus: float
    memory: int


# --- actions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pull:
    image: str
    env_id: str
    release_id: str
    # A failed pull fails a release still rolling out; a converged one retries instead.
    fatal: bool = True


@dataclass(frozen=True)
class Create:
    """Create and start one new instance of a desired workload."""

    desired: DesiredWorkload


@dataclass(frozen=True)
class Start:
    """Start an instance whose container exists but never ran (e.g. after a crash of platd)."""

    instance: InstanceView


@dataclass(frozen=True)
class Restart:
    instance: InstanceView
    reason: str


@dataclass(frozen=True)
class Stop:
    """Stop and remove an instance that is no longer wanted."""

    instance: InstanceView
    reason: str


@dataclass(frozen=True)
class Pending:
    """An instance that cannot be placed now; ``reason`` says why in plain words."""

    desired: DesiredWorkload
    missing: int
    reason: str


@dataclass(frozen=True)
class MarkRelease:
    env_id: str
    release_id: str
    status: Literal["rolling", "converged", "failed", "degraded"]
    step: str | None = None
    category: str | None = None
    message: str | None = None
    instance: InstanceView | None = None  # the instance whose failure decided it


Action = Pull | Create | Start | Restart | Stop | Pending | MarkRelease


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    # Seconds until the planner wants another pass even if nothing changes (backoff timers).
    wake_in: float | None = None
