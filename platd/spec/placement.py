"""Placement: which host runs each instance, and why (or why not) — a pure function.

Every host computes placement from the same replicated rows, so the answer must not depend on
where or when it is computed: no clock, no randomness, no iteration order. Hosts are ranked per
instance slot by rendezvous hashing (highest random weight of ``hash(slot, host)``), which keeps
most instances where they are when a host joins or leaves, then filtered by the workload's
constraints and the capacity left:

1. the host is eligible: alive (or within its grace period), not cordoned or draining (a
   cordoned host keeps the instances it already has), in the required
   region, carrying the required labels, and holding every volume the workload mounts;
2. it has the cpu and memory the instance asks for, after what is already placed on it;
3. among eligible hosts with room, a workload's instances spread: a host already running fewer
   of this workload's instances comes first, rendezvous rank breaks ties.

An instance no host can take is *pending*, with one reason per host in plain words ("h2: no
capacity: needs 2G memory, 512M free"), which ``plat status`` and ``describe`` show.
Instances already placed keep their host while it stays eligible (``sticky``): a new host
joining does not move running instances around.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from platd.spec.sizes import format_size


@dataclass(frozen=True)
class HostCapacity:
    id: str
    name: str
    cpus: float
    memory: int  # bytes
    region: str = ""
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    alive: bool = True
    cordoned: bool = False  # takes no new instances; keeps the ones it has
    draining: bool = False  # keeps none either: they move elsewhere
    volumes: frozenset[str] = frozenset()  # volume ids that live on this host


@dataclass(frozen=True)
class Constraint:
    region: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class WorkloadDemand:
    """One workload of one env: ``count`` instances of ``cpu``/``memory`` each."""

    key: str  # "ENV_ID/WORKLOAD": stable across releases, so hashing keeps instances in place
    count: int
    cpu: float
    memory: int
    constraint: Constraint = Constraint()
    volumes: Mapping[str, str] = field(default_factory=dict, hash=False)  # volume id -> name


@dataclass(frozen=True)
class Slot:
    workload: str  # WorkloadDemand.key
    index: int  # 0 .. count-1

    @property
    def key(self) -> str:
        return f"{self.workload}#{self.index}"


@dataclass(frozen=True)
class Placement:
    assigned: Mapping[Slot, str]  # slot -> host id
    pending: Mapping[Slot, Mapping[str, str]]  # slot -> host name -> why not
    why: Mapping[Slot, str]  # slot -> why it is on its host

    def hosts_of(self, workload: str) -> list[str]:
        return [h for s, h in sorted(self.assigned.items(), key=lambda x: x[0].index)
                if s.workload == workload]


def rank(slot_key: str, host_id: str) -> int:
    """Rendezvous weight: the same on every host, for every run."""
    return int.from_bytes(hashlib.sha256(f"{slot_key}|{host_id}".encode()).digest()[:8], "big")


def ineligible(host: HostCapacity, demand: WorkloadDemand) -> str | None:
    """Why ``host`` can never take this workload (capacity aside), or None."""
    if not host.alive:
        return "host is failed"
    if host.draining:
        return "host is being drained (plat hosts uncordon)"
    if host.cordoned:
        return "host is cordoned (plat hosts uncordon)"
    wanted = demand.constraint.region
    if wanted and host.region != wanted:
        return f"region {wanted} required, host is in {host.region or 'no region'}"
    for k, v in sorted(demand.constraint.labels.items()):
        if host.labels.get(k) != v:
            have = host.labels.get(k)
            return f"label {k}={v} required, host has {f'{k}={have}' if have else f'no {k}'}"
    for volume_id, name in sorted(demand.volumes.items()):
        if volume_id not in host.volumes:
            return f"volume {name} is on another host"
    return None


def place(
    demands: Sequence[WorkloadDemand],
    hosts: Sequence[HostCapacity],
    current: Mapping[Slot, str] | None = None,
) -> Placement:
    """Assign every instance slot of ``demands`` to a host, or say per host why not."""
    current = current or {}
    free_cpu = {h.id: h.cpus for h in hosts}
    free_mem = {h.id: h.memory for h in hosts}
    by_id = {h.id: h for h in hosts}
    assigned: dict[Slot, str] = {}
    pending: dict[Slot, dict[str, str]] = {}
    why: dict[Slot, str] = {}
    per_host: dict[tuple[str, str], int] = {}

    def take(slot: Slot, host: HostCapacity, demand: WorkloadDemand, reason: str) -> None:
        assigned[slot] = host.id
        why[slot] = reason
        free_cpu[host.id] -= demand.cpu
        free_mem[host.id] -= demand.memory
        per_host[(demand.key, host.id)] = per_host.get((demand.key, host.id), 0) + 1

    def fits(host: HostCapacity, demand: WorkloadDemand) -> str | None:
        if free_mem[host.id] < demand.memory:
            return (f"no capacity: needs {format_size(demand.memory)} memory, "
                    f"{format_size(max(free_mem[host.id], 0))} free")
        if free_cpu[host.id] + 1e-9 < demand.cpu:
            return (f"no capacity: needs {demand.cpu:g} cpu, "
                    f"{max(free_cpu[host.id], 0):g} free")
        return None

    ordered = sorted(demands, key=lambda d: d.key)
    slots = [(Slot(d.key, i), d) for d in ordered for i in range(d.count)]
    # First, instances already placed stay where they are while their host still qualifies.
    # A cordoned host keeps what it runs (it only takes nothing new); a draining one does not.
    for slot, demand in slots:
        host = by_id.get(current.get(slot, ""))
        if host is not None and host.cordoned and not host.draining:
            host = HostCapacity(host.id, host.name, host.cpus, host.memory, host.region,
                                host.labels, host.alive, False, False, host.volumes)
        if host is not None and ineligible(host, demand) is None and fits(host, demand) is None:
            take(slot, host, demand, f"kept on {host.name}")
    for slot, demand in slots:
        if slot in assigned:
            continue
        reasons: dict[str, str] = {}
        candidates = []
        for host in hosts:
            problem = ineligible(host, demand) or fits(host, demand)
            if problem:
                reasons[host.name] = problem
            else:
                candidates.append(host)
        if not candidates:
            pending[slot] = reasons or {"(no hosts)": "no live host in the cluster"}
            continue
        best = min(candidates, key=lambda h: (per_host.get((demand.key, h.id), 0),
                                              -rank(slot.key, h.id)))
        spread = per_host.get((demand.key, best.id), 0)
        reason = (f"placed on {best.name}: it meets the workload's constraints, has room "
                  f"({format_size(max(free_mem[best.id], 0))} memory free)")
        if spread == 0 and len(candidates) > 1:
            reason += ", and runs no other instance of this workload"
        take(slot, best, demand, reason)
    return Placement(assigned, pending, why)
