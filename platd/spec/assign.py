"""From replicated facts to assignment rows: the pure wiring around ``placement.place``.

A cluster host holds the same rows as every other (hosts, releases, scales, volumes, the last
assignments) and a view of who is alive from gossip. This module turns those into placement's
inputs, runs it, and says what changed and why in words for events: which slots moved from
which host, which are pending and what holds them. It also answers the two questions a host's
reconciler asks: how many instances of a workload run here, and how many surplus ones it must
keep while the instances that replace them elsewhere are not healthy yet (a drain or a move
never lowers the workload's healthy count). No I/O, no clock: ``now`` is passed in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from platd.spec.placement import Constraint, HostCapacity, Slot, WorkloadDemand, place

DEFAULT_GRACE = 60.0  # seconds a failed host keeps its instances before they move


@dataclass(frozen=True)
class HostFacts:
    """A member as its ``hosts`` row describes it, and as gossip sees it now."""

    id: str
    name: str
    cpus: float
    memory: int
    region: str = ""
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    cordoned: bool = False
    draining: bool = False
    state: str = "alive"  # alive | failed | left | unknown (gossip's word)
    failed_since: float | None = None  # when this host first saw it not alive


@dataclass(frozen=True)
class WorkloadFacts:
    """One workload of one env's current release, with the env's scale applied."""

    env_id: str
    workload: str
    count: int
    cpu: float
    memory: int
    region: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    volumes: Mapping[str, str] = field(default_factory=dict, hash=False)  # volume id -> name
    volume_hosts: Mapping[str, str] = field(default_factory=dict, hash=False)  # name -> host id

    @property
    def key(self) -> str:
        return f"{self.env_id}/{self.workload}"


@dataclass(frozen=True)
class Current:
    """The assignment row a workload has now (empty for a workload never placed)."""

    hosts: tuple[str, ...] = ()
    generation: int = 0
    why: Mapping[int, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Assigned:
    """What a workload's assignment row should say, and the events that explain a change."""

    env_id: str
    workload: str
    hosts: tuple[str, ...]  # slot index -> host id, "" while pending
    why: Mapping[int, str]
    pending: Mapping[int, Mapping[str, str]]  # slot -> host name -> why not
    generation: int
    changed: bool
    notes: tuple[str, ...] = ()  # one line per move or newly pending slot


def placeable(host: HostFacts, now: float, grace: float) -> bool:
    """Alive, or not seen alive for less than the grace period (it may come back)."""
    if host.state in ("alive", "unknown"):
        return True
    if host.state == "left":
        return False
    return host.failed_since is not None and now - host.failed_since < grace


def _gone_words(host: HostFacts, now: float, grace: float) -> str:
    if host.state == "left":
        return f"host {host.name} left the cluster"
    since = now - host.failed_since if host.failed_since is not None else grace
    return f"host {host.name} has been failed for {since:.0f} s (grace {grace:g} s)"


def assign(
    workloads: Sequence[WorkloadFacts],
    hosts: Sequence[HostFacts],
    current: Mapping[str, Current],
    *,
    now: float,
    grace: float = DEFAULT_GRACE,
) -> list[Assigned]:
    """Place every workload's slots; one ``Assigned`` per workload, in key order."""
    capacities = []
    for h in sorted(hosts, key=lambda h: h.id):
        volume_ids = frozenset(vid for w in workloads for vid, name in w.volumes.items()
                               if w.volume_hosts.get(name) == h.id)
        capacities.append(HostCapacity(
            id=h.id, name=h.name, cpus=h.cpus, memory=h.memory, region=h.region,
            labels=dict(h.labels), alive=placeable(h, now, grace), cordoned=h.cordoned,
            draining=h.draining, volumes=volume_ids,
        ))
    demands = [
        WorkloadDemand(w.key, w.count, w.cpu, w.memory,
                       Constraint(w.region, dict(w.labels)), dict(w.volumes))
        for w in workloads
    ]
    before = {
        Slot(w.key, i): host
        for w in workloads
        for i, host in enumerate(current.get(w.key, Current()).hosts)
        if host
    }
    placement = place(demands, capacities, before)
    by_id = {h.id: h for h in hosts}
    out = []
    for w in sorted(workloads, key=lambda w: w.key):
        old = current.get(w.key, Current())
        slots = [Slot(w.key, i) for i in range(w.count)]
        new_hosts = tuple(placement.assigned.get(s, "") for s in slots)
        # A slot that stays keeps the reason it was placed for ("kept on h1" says nothing).
        why = {s.index: old.why[s.index] if s.index < len(old.hosts) and s.index in old.why
               and old.hosts[s.index] == new_hosts[s.index] else placement.why[s]
               for s in slots if s in placement.why}
        pending = {s.index: dict(placement.pending[s]) for s in slots if s in placement.pending}
        changed = new_hosts != old.hosts
        notes = _notes(w, old.hosts, new_hosts, pending, by_id, now, grace) if changed else ()
        out.append(Assigned(
            env_id=w.env_id, workload=w.workload, hosts=new_hosts, why=why, pending=pending,
            generation=old.generation + 1 if changed else old.generation, changed=changed,
            notes=notes,
        ))
    return out


def _notes(
    w: WorkloadFacts, old: Sequence[str], new: Sequence[str],
    pending: Mapping[int, Mapping[str, str]], hosts: Mapping[str, HostFacts],
    now: float, grace: float,
) -> tuple[str, ...]:
    def name(host_id: str) -> str:
        h = hosts.get(host_id)
        return h.name if h else host_id[-12:]

    notes = []
    for i, host in enumerate(new):
        was = old[i] if i < len(old) else ""
        if host == was:
            continue
        if was and host:
            gone = hosts.get(was)
            if gone is None:
                because = f"host {name(was)} was removed from the cluster"
            elif not placeable(gone, now, grace):
                because = _gone_words(gone, now, grace)
            elif gone.draining:
                because = f"host {gone.name} is being drained"
            else:
                because = f"host {gone.name} no longer meets the workload's constraints"
            notes.append(f"{w.workload}#{i} moved from {name(was)} to {name(host)}: {because}")
        elif host:
            notes.append(f"{w.workload}#{i} placed on {name(host)}")
        elif i in pending:
            headline = pending_headline(w, pending[i], hosts, now, grace)
            notes.append(f"{w.workload}#{i} is pending: {headline}")
    return tuple(notes)


def pending_headline(
    w: WorkloadFacts, reasons: Mapping[str, str], hosts: Mapping[str, HostFacts],
    now: float, grace: float,
) -> str:
    """One line for a pending slot: the volume's host if a volume holds it, else every host."""
    for name in sorted(set(w.volumes.values())):
        host = hosts.get(w.volume_hosts.get(name, ""))
        if host is not None and not placeable(host, now, grace):
            return f"volume {name} is on host {host.name}, which is failed"
        if host is not None and host.name in reasons:
            return f"volume {name} is on host {host.name}: {reasons[host.name]}"
    return "; ".join(f"{h}: {why}" for h, why in sorted(reasons.items()))


def count_here(hosts: Sequence[str], host_id: str) -> int:
    return sum(1 for h in hosts if h == host_id)


def surplus_to_keep(
    *, assigned_here: int, running_here: int, assigned_elsewhere: int, healthy_elsewhere: int,
) -> int:
    """Instances over this host's share that it keeps running for now.

    When slots move off a host (a drain, a constraint change) the host stops its surplus only
    as the replacements elsewhere become healthy, so the workload's healthy count never drops
    below what it had: it keeps one surplus instance for each replacement not healthy yet.
    """
    surplus = max(running_here - assigned_here, 0)
    missing = max(assigned_elsewhere - healthy_elsewhere, 0)
    return min(surplus, missing)
