"""Placement as desired state: reading its inputs from rows, writing assignment rows and events.

The pure work (which host, why, what moved) is ``platd.spec.assign``; this module feeds it the
replicated rows and gossip's view (``Membership``), and writes the answer in the caller's
transaction: a deploy, rollback or scale places in the same commit that moves the pointer, so
no host ever sees a release without its assignment; the re-placement watch
(``platd.cluster.node``) writes what host loss, a drain or a new host changed. Every host
computes the same answer from the same rows, so two hosts writing at once write the same.

A host of its own (no cluster) writes no assignments: its reconciler runs every instance, as
it always did (``platd.reconcile.desired`` reads the rows).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from platd.spec.assign import (
    Assigned,
    Current,
    HostFacts,
    WorkloadFacts,
    assign,
    pending_headline,
    placeable,
)
from platd.store import eventlog
from platd.store.models import Assignment, Host, Release, Scale, Volume
from platd.store.queries import live_envs, manifest_of

if TYPE_CHECKING:
    from platd.clock import Clock
    from platd.spec.membership import Membership


def assignment_id(env_id: str, workload: str) -> str:
    return f"{env_id}/{workload}"


def host_facts(session: Session, membership: Membership | None, now: float) -> list[HostFacts]:
    rows = session.exec(select(Host).where(Host.deleted == False)).all()  # noqa: E712
    out = []
    for r in rows:
        state, since = membership.state(r.id) if membership is not None else ("alive", None)
        out.append(HostFacts(
            id=r.id, name=r.name, cpus=r.cpus, memory=r.memory, region=r.region,
            labels=json.loads(r.labels_json or "{}"), cordoned=r.cordoned,
            draining=r.draining, state=state, failed_since=since,
        ))
    return out


def workload_facts(session: Session) -> list[WorkloadFacts]:
    """Every workload of every live env's current release, scale and placement applied."""
    envs = [e.env for e in live_envs(session) if e.env.current_release_id]
    ids = [e.current_release_id for e in envs]
    releases = {r.id: r for r in session.exec(select(Release).where(col(Release.id).in_(ids)))}
    scales: dict[str, dict[str, Scale]] = {}
    for s in session.exec(select(Scale).where(Scale.deleted == False)):  # noqa: E712
        scales.setdefault(s.env_id, {})[s.workload] = s
    volumes: dict[str, dict[str, Volume]] = {}
    for v in session.exec(select(Volume).where(Volume.deleted == False)):  # noqa: E712
        volumes.setdefault(v.env_id, {})[v.name] = v
    out = []
    for env in envs:
        release = releases.get(env.current_release_id or "")
        if release is None:
            continue
        manifest = manifest_of(release)
        env_volumes = volumes.get(env.id, {})
        for name, w in manifest.workloads.items():
            scale = scales.get(env.id, {}).get(name)
            rule = json.loads(scale.placement_json) if scale and scale.placement_json else None
            if rule is None and w.placement is not None:
                rule = {"region": w.placement.region, "labels": dict(w.placement.labels)}
            mounts = [m.name for m in manifest.volumes if m.workload == name]
            out.append(WorkloadFacts(
                env_id=env.id, workload=name,
                count=scale.count if scale and scale.count is not None else w.count,
                cpu=scale.cpu if scale and scale.cpu is not None else w.cpu,
                memory=scale.memory if scale and scale.memory is not None else w.memory,
                region=(rule or {}).get("region") or None,
                labels=(rule or {}).get("labels") or {},
                # A volume not created yet holds nothing: the reconciler says it is missing.
                volumes={env_volumes[m].id: m for m in mounts if m in env_volumes},
                volume_hosts={m: env_volumes[m].host_id for m in mounts if m in env_volumes},
            ))
    return out


def current_assignments(session: Session) -> dict[str, Assignment]:
    rows = session.exec(select(Assignment).where(Assignment.deleted == False)).all()  # noqa: E712
    return {r.id: r for r in rows}


def replace(
    session: Session, clock: Clock, membership: Membership | None, *, actor: str | None = None,
) -> list[Assigned]:
    """Place every workload again and write the rows (and events) of those that changed.

    Nothing is written on a host of its own (``membership`` None)."""
    if membership is None:
        return []
    now = clock.time()
    rows = current_assignments(session)
    current = {key: Current(tuple(json.loads(r.hosts_json)), r.generation,
                            {int(k): v for k, v in json.loads(r.why_json).items()})
               for key, r in rows.items()}
    workloads = workload_facts(session)
    answer = assign(workloads, host_facts(session, membership, now), current, now=now,
                    grace=membership.grace)
    for a in answer:
        key = assignment_id(a.env_id, a.workload)
        row = rows.get(key)
        why = json.dumps({str(k): v for k, v in a.why.items()}, sort_keys=True)
        pending = json.dumps({str(k): v for k, v in a.pending.items()}, sort_keys=True)
        if row is not None and not a.changed and row.why_json == why \
                and row.pending_json == pending:
            continue
        row = row or Assignment(id=key, env_id=a.env_id, workload=a.workload)
        row.hosts_json, row.generation = json.dumps(list(a.hosts)), a.generation
        row.why_json, row.pending_json, row.updated_at = why, pending, now
        session.add(row)
        for note in a.notes:
            eventlog.record(session, clock, env_id=a.env_id, workload=a.workload,
                            step="placement",
                            outcome="failed" if "pending" in note else "info",
                            category="scheduling" if "pending" in note else None,
                            message=note, actor=actor)
    # Workloads no longer in any current release keep no assignment.
    live = {assignment_id(a.env_id, a.workload) for a in answer}
    for key, row in rows.items():
        if key not in live:
            row.deleted = True
            session.add(row)
    return answer


def explain(session: Session, env_id: str, membership: Membership | None,
            now: float) -> dict[str, dict[str, Any]]:
    """Per workload of an env: where each slot runs and why, and per host why not.

    The env's assignment rows are read first: without any (a host of its own writes none)
    there is nothing to explain, and the facts of every host and workload are not gathered
    (they were most of what ``plat status`` cost the daemon)."""
    rows = session.exec(select(Assignment).where(Assignment.env_id == env_id,
                                                 Assignment.deleted == False)).all()  # noqa: E712
    if not rows:
        return {}
    hosts = {h.id: h for h in host_facts(session, membership, now)}
    grace = membership.grace if membership is not None else 60.0
    facts = {w.workload: w for w in workload_facts(session) if w.env_id == env_id}
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        slots = []
        pending = json.loads(r.pending_json)
        why = json.loads(r.why_json)
        w = facts.get(r.workload)
        for i, host_id in enumerate(json.loads(r.hosts_json)):
            h = hosts.get(host_id)
            slot: dict[str, Any] = {"slot": i, "host_id": host_id or None,
                                    "host": h.name if h else (host_id[-12:] or None)}
            if host_id:
                slot["why"] = why.get(str(i), "")
                if h is not None and not placeable(h, now, grace):
                    slot["why"] += f"; host {h.name} is {h.state}"
            else:
                reasons = pending.get(str(i), {})
                slot["why_not"] = reasons
                slot["why"] = ("pending: " + pending_headline(w, reasons, hosts, now, grace)
                               if w else "pending")
            slots.append(slot)
        out[r.workload] = {"generation": r.generation, "slots": slots}
    return out


def host_names(session: Session) -> dict[str, str]:
    return {h.id: h.name for h in session.exec(select(Host))}
