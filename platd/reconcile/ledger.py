"""What one host's reconciler remembers between passes that Docker cannot tell it.

Health results, restart counts, stops in flight and the last state seen of every container.
Everything here can be lost in a crash: restart counts are reloaded from the database and health
is simply probed again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from platd.reconcile.model import Health


@dataclass
class HealthState:
    status: Health = "starting"
    failures: int = 0
    reason: str | None = None
    next_probe: float = 0.0
    probes: int = 0  # probes sent while starting (they come closer together at first)
    since: float | None = None  # when this daemon started watching it (grace counts from here)


@dataclass
class Ledger:
    health: dict[str, HealthState] = field(default_factory=dict)  # by container id
    restarts: dict[str, int] = field(default_factory=dict)  # by instance id
    stopping: set[str] = field(default_factory=set)  # container ids with a stop in flight
    last_state: dict[str, str] = field(default_factory=dict)  # container id -> state
    images: set[str] = field(default_factory=set)  # pinned images known to be present
    pending: dict[tuple[str, str], str] = field(default_factory=dict)  # (env, workload) -> why
    failed_starts: dict[str, str] = field(default_factory=dict)  # container id -> start error
    failed_start_at: dict[str, float] = field(default_factory=dict)  # ... and when it failed
    # Creates (by spec hash) and pulls (by "pull:IMAGE") that failed: how often, and until when
    # to hold off, so a failure that recurs cannot spin the loop.
    create_failures: dict[str, int] = field(default_factory=dict)
    hold_until: dict[str, float] = field(default_factory=dict)
    # Containers this daemon removed; hidden from a pass that listed them just before.
    removed: set[str] = field(default_factory=set)
    # Containers the executor started and woke a pass for: their engine "start" event is not
    # news (Reconciler._caused_here).
    announced: set[str] = field(default_factory=set)

    def forget(self, container_id: str) -> None:
        self.health.pop(container_id, None)
        self.last_state.pop(container_id, None)
        self.failed_starts.pop(container_id, None)
        self.failed_start_at.pop(container_id, None)
        self.announced.discard(container_id)
