"""``plat status`` and ``plat describe``: desired and current side by side, and the why.

Desired comes from the env's current release with scale applied; current from the instance rows
the owning hosts write. Nothing here asks Docker: any host can answer from its replicated state.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session, select

from platd.auth.tokens import Principal
from platd.services import endpoint_check, placement, release_facts, tenancy
from platd.services.context import ServiceContext
from platd.services.releases_read import describe, find_release, get_release
from platd.spec.errors import Conflict, InvalidInput, NotFound
from platd.spec.ids import uuid7
from platd.spec.limits import cpu_problem
from platd.spec.manifest import Manifest
from platd.spec.sizes import MAX_MEMORY, MIN_MEMORY, format_size, parse_size
from platd.spec.volumes import count_problem, stop_first_reason, writable
from platd.store import eventlog
from platd.store.models import ENGINE_UNREACHABLE, Instance, Release, Scale
from platd.store.queries import (
    env_instances,
    host_names,
    live_scales,
    live_volumes,
    manifest_of,
    release_seqs,
    spec_hash,
)

MAX_COUNT = 100


def _instance_dict(i: Instance, seqs: dict[str, int], now: float,
                   names: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "id": i.id,
        "workload": i.workload,
        "release_id": i.release_id,
        "release": f"v{seqs[i.release_id]}" if i.release_id in seqs else "?",
        "state": i.state,
        "health": i.health,
        "restarts": i.restarts,
        "exit_code": i.exit_code,
        "started_at": i.started_at,
        "age_seconds": round(now - i.started_at, 1) if i.started_at else None,
        "ports": json.loads(i.ports_json),
        "host": i.host_id,
        **({"host_name": names[i.host_id]} if names and i.host_id in names else {}),
        "reason": i.reason,
        "container_id": i.container_id,
    }


def _coming_up(i: Instance) -> bool:
    """Being added, not failing: pending, created, or running and not yet ready, first try."""
    if i.state in ("pending", "created"):
        return True
    return i.state == "running" and i.health == "starting" and i.restarts == 0


def _crashing(i: Instance) -> bool:
    """Down or failing after it ran: exited, restarting, unhealthy, or starting over."""
    if i.state in ("exited", "dead", "restarting"):
        return True
    return i.state == "running" and (
        i.health == "unhealthy" or (i.health == "starting" and i.restarts > 0))


def _desired_scale(release: Release | None, scales: dict[str, Scale]) -> dict[str, dict[str, Any]]:
    if release is None:
        return {}
    out = {}
    for name, w in manifest_of(release).workloads.items():
        s = scales.get(name)
        out[name] = {
            "count": s.count if s and s.count is not None else w.count,
            "cpu": s.cpu if s and s.cpu is not None else w.cpu,
            "memory": s.memory if s and s.memory is not None else w.memory,
        }
    return out


def _volume_facts(manifest: Manifest | None, workload: str,
                  hosts: dict[str, str]) -> dict[str, Any]:
    """Placement and rollout strategy of a workload that mounts volumes, in plain words
    (``manifest``: the current release's, parsed once for every workload)."""
    if manifest is None:
        return {}
    mounts = [m for m in manifest.volumes if m.workload == workload]
    if not mounts:
        return {}
    names = ", ".join(m.name for m in mounts)
    where = sorted({hosts[m.name][-12:] for m in mounts if m.name in hosts})
    facts: dict[str, Any] = {
        "volumes": [{"name": m.name, "mount": m.mount, "read_only": m.read_only} for m in mounts],
        "placement": f"runs on host {', '.join(where) or '(none: the volume does not exist)'} "
        f"because it mounts volume {names}: an instance that mounts a volume runs "
        "on the volume's host",
    }
    if writable(mounts):
        facts["rollout"] = "stop-first: " + stop_first_reason(workload, mounts)
    return facts


def status_answer(ctx: ServiceContext, principal: Principal, target: str) -> dict[str, Any]:
    """``GET .../status``: the env's status and its endpoints (``endpoint_check``), read in
    one session: the env is resolved once for both."""
    with ctx.store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        answer = _status(ctx, session, ref)
        endpoints = endpoint_check.endpoint_rows(ctx, session, ref)
    # Each endpoint's addresses and which accept a connection: onboarding ends with a request.
    answer["endpoints"] = endpoint_check.listening_endpoints(endpoints)
    return answer


def _status(ctx: ServiceContext, session: Session, ref: tenancy.EnvRef) -> dict[str, Any]:
    now = ctx.clock.time()
    current = (
        session.get(Release, ref.env.current_release_id) if ref.env.current_release_id else None
    )
    seqs = release_seqs(session, ref.env.id)
    instances = _unlost(env_instances(session, ref.env.id), ctx, session)
    desired = _desired_scale(current, live_scales(session, ref.env.id))
    volume_hosts = {v.name: v.host_id for v in live_volumes(session, ref.env.id)}
    manifest = manifest_of(current) if current else None
    placed = placement.explain(session, ref.env.id, ctx.membership, now)
    names = host_names(session)
    workloads = []
    for name in sorted(set(desired) | {i.workload for i in instances}):
        mine = [i for i in instances if i.workload == name]
        want = desired.get(name, {"count": 0, "cpu": 0, "memory": 0})
        # "Current" means running the desired spec: this release with today's cpu/memory.
        want_spec = spec_hash(current.id, name, want["cpu"], want["memory"]) if current else ""
        on_current = [i for i in mine if i.spec_hash == want_spec]
        serving = [i for i in mine if i.state == "running" and i.health == "healthy"]
        by_release: dict[str, int] = {}
        for i in serving:
            version = f"v{seqs[i.release_id]}" if i.release_id in seqs else "?"
            by_release[version] = by_release.get(version, 0) + 1
        workloads.append(
            {
                "name": name,
                "desired": want["count"],
                "cpu": want["cpu"],
                "memory": format_size(want["memory"]) if want["memory"] else "-",
                "running": sum(1 for i in mine if i.state == "running"),
                "healthy": sum(
                    1 for i in mine if i.state == "running" and i.health == "healthy"
                ),
                # Healthy instances of the desired spec ("updated"); "serving" counts
                # every healthy instance, whichever release it runs: what takes traffic.
                "current": sum(
                    1 for i in on_current if i.state == "running" and i.health == "healthy"
                ),
                "serving": len(serving),
                "serving_releases": by_release,
                "starting": sum(1 for i in on_current if _coming_up(i)),
                "crashing": sum(1 for i in on_current if _crashing(i)),
                "pending": ([i.reason for i in mine if i.state == "pending"]
                            + [s["why"].removeprefix("pending: ")
                               for s in placed.get(name, {}).get("slots", [])
                               if not s["host_id"]])[:1],
                **_volume_facts(manifest, name, volume_hosts),
                **({"placed": placed[name]["slots"]} if name in placed else {}),
                "instances": [_instance_dict(i, seqs, now, names) for i in mine],
            }
        )
    return {
        "target": ref.path,
        "release": describe(session, current, ref.env) if current else None,
        "workloads": workloads,
        "disk": _disk(ctx),
        "engine_unreachable": _engines_unreachable(instances),
    }


def _disk(ctx: ServiceContext) -> dict[str, Any] | None:
    """This host's data disk: free bytes, and whether it counts as full (platd/disk.py)."""
    if ctx.disk is None:
        return None
    return {"host": ctx.host.name, **ctx.disk.state().to_dict()}


def _engines_unreachable(instances: list[Instance]) -> list[dict[str, Any]]:
    """The hosts whose container engine does not answer (their instances' rows say so, see
    ``reconcile.observed.mark_engine_unreachable``): since when, and the engine's words."""
    down: dict[str, Instance] = {}
    for i in instances:
        if i.state == ENGINE_UNREACHABLE and (i.host_id not in down
                                              or i.updated_at < down[i.host_id].updated_at):
            down[i.host_id] = i
    return [{"host": host, "since": i.updated_at, "reason": i.reason}
            for host, i in sorted(down.items())]


def _unlost(instances: list[Instance], ctx: ServiceContext, session: Any) -> list[Instance]:
    """Instances of a host gossip sees failed are not counted as running: their rows are the
    last word of a host that no longer answers (they are copies; the store is untouched)."""
    membership = ctx.membership
    if membership is None:
        return instances
    names = host_names(session)
    out = []
    for i in instances:
        state, _since = membership.state(i.host_id)
        if i.state == "pending":
            pass
        elif state in ("failed", "left"):
            i = _unknown(i, f"host {names.get(i.host_id, i.host_id[-12:])} is {state}: its "
                            "last report said it was running")
        elif membership.returning(i.host_id):
            i = _unknown(i, f"host {names.get(i.host_id, i.host_id[-12:])} is back: its "
                            "report from before it went away no longer holds; waiting for "
                            "a new one")
        out.append(i)
    return out


def _unknown(instance: Instance, reason: str) -> Instance:
    copy = Instance.model_validate(instance.model_dump())
    copy.state, copy.health, copy.reason = "unknown", "none", reason
    return copy


def describe_instance(
    ctx: ServiceContext, principal: Principal, target: str, instance_id: str
) -> dict[str, Any]:
    now = ctx.clock.time()
    with ctx.store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        rows = [i for i in env_instances(session, ref.env.id) if i.id.startswith(instance_id)]
        if len(rows) != 1:
            existing = ", ".join(i.id for i in env_instances(session, ref.env.id)) or "none"
            raise NotFound(
                f"no instance {instance_id!r} in {ref.path} (instances there: {existing})",
                hint=f"see them with: plat status --target {ref.path}",
            )
        seqs = {
            r.id: r.seq for r in session.exec(select(Release).where(Release.env_id == ref.env.id))
        }
        inst = rows[0]
        placed = placement.explain(session, ref.env.id, ctx.membership, now).get(inst.workload)
        why_here = next((s["why"] for s in (placed or {}).get("slots", [])
                         if s["host_id"] == inst.host_id), None)
        if placed is not None and why_here is None:
            why_here = ("its host no longer has a slot of this workload: it stops once its "
                        "replacement elsewhere is healthy")
        recent = [
            e
            for e in eventlog.last_events(session, ref.env.id, release_id=None, since=None,
                                          limit=200)
            if e.instance_id == inst.id
        ][-20:]
        return {
            "target": ref.path,
            "kind": "instance",
            **_instance_dict(inst, seqs, now, placement.host_names(session)),
            "host_name": release_facts.host_names(session, ctx).get(inst.host_id),
            **({"placement": why_here} if why_here else {}),
            "events": [eventlog.to_dict(e) for e in recent],
        }


def describe_workload(
    ctx: ServiceContext, principal: Principal, target: str, name: str
) -> dict[str, Any]:
    spec = None
    with ctx.store.read() as session:  # the status and the workload's spec and events at once
        ref = tenancy.resolve_env(session, principal, target)
        full = _status(ctx, session, ref)
        match = next((w for w in full["workloads"] if w["name"] == name), None)
        if match is None:
            names = ", ".join(w["name"] for w in full["workloads"]) or "none"
            raise NotFound(
                f"no workload {name!r} in {full['target']} (workloads there: {names})",
                hint=f"see them with: plat status --target {full['target']}",
            )
        if ref.env.current_release_id:
            release = session.get(Release, ref.env.current_release_id)
            if release is not None:
                manifest = manifest_of(release)
                w = manifest.workloads.get(name)
                spec = manifest.to_dict()["workloads"].get(name) if w else None
                spec = {**(spec or {}), "image": json.loads(release.images_json).get(name)}
        recent = [
            e
            for e in eventlog.last_events(session, ref.env.id, release_id=None, since=None,
                                          limit=200)
            if e.workload == name
        ][-20:]
    return {
        "target": full["target"],
        "kind": "workload",
        "release": full["release"],
        **match,
        "spec": spec,
        "events": [eventlog.to_dict(e) for e in recent],
    }


def describe_release(
    ctx: ServiceContext, principal: Principal, target: str, text: str
) -> dict[str, Any]:
    out = get_release(ctx, principal, target, text)
    with ctx.store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        release = find_release(session, ref, text)
        recent = eventlog.last_events(
            session, ref.env.id, release_id=release.id, since=None, limit=50
        )
        names = release_facts.host_names(session, ctx)
        hosts = sorted({names.get(i.host_id, i.host_id[-12:])
                        for i in env_instances(session, ref.env.id)
                        if i.release_id == release.id})
        secrets = release_facts.secret_bundles(session, release)
    return {"kind": "release", **out, "secrets": secrets, "hosts": hosts,
            "events": [eventlog.to_dict(e) for e in recent]}


def scale(
    ctx: ServiceContext,
    principal: Principal,
    target: str,
    workload: str,
    *,
    count: int | None,
    minimum: int | None,
    maximum: int | None,
    cpu: float | None,
    memory: str | int | None,
    reset: bool = False,
    placement_rule: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Overrides the release's count, cpu or memory of ``workload`` for the env; ``reset``
    drops the override, so the workload follows plat.toml again from the current release on."""
    rule_json = _placement_json(placement_rule) if placement_rule is not None else None
    if reset and not (count is None and minimum is None and maximum is None and cpu is None
                      and memory is None and rule_json is None):
        raise InvalidInput("--reset goes back to plat.toml: it takes no --count, --cpu or "
                           "--memory", hint="run it alone, then scale again if you need to")
    count = _fixed_count(count, minimum, maximum)
    if count is not None and not 0 <= count <= MAX_COUNT:
        raise InvalidInput(
            f"count {count} is out of range: use 0 to {MAX_COUNT}",
            hint=f"pass --count N with N from 0 to {MAX_COUNT}",
        )
    if cpu is not None and (problem := cpu_problem(cpu)) is not None:
        raise InvalidInput(problem, hint="pass --cpu X in cores, e.g. --cpu 0.5")
    mem = (
        parse_size(memory, what="memory", minimum=MIN_MEMORY, maximum=MAX_MEMORY)
        if memory is not None
        else None
    )
    if count is None and cpu is None and mem is None and rule_json is None and not reset:
        raise InvalidInput("nothing to change",
                           hint="pass --count N, --cpu X, --memory SIZE, --region or --label, "
                                "or --reset")
    with ctx.store.write() as session:
        ref = tenancy.resolve_env(session, principal, target)
        principal.require(ref.org.id, "deployer")
        current = (
            session.get(Release, ref.env.current_release_id) if ref.env.current_release_id else None
        )
        if current is None:
            raise NotFound(
                f"{ref.path} has no release yet, so no workloads to scale",
                hint=f"deploy first: plat deploy --target {ref.path}",
            )
        scales = live_scales(session, ref.env.id)
        before = _desired_scale(current, scales)
        if workload not in before:
            raise NotFound(
                f"no workload {workload!r} in {ref.path} (workloads there: {', '.join(before)})",
                hint=f"see them with: plat status --target {ref.path}",
            )
        row = scales.get(workload)
        if reset:
            if row is None:
                raise InvalidInput(
                    f"{workload} in {ref.path} has no scale of its own: it already follows "
                    "plat.toml", hint=f"see it with: plat status --target {ref.path}")
            row.deleted = True  # a tombstone, so the reset replicates like any change
            after = _desired_scale(current, {k: v for k, v in scales.items() if k != workload})
        else:
            row = row or Scale(id=uuid7(), env_id=ref.env.id, workload=workload)
            if count is not None:
                row.count = count
            if cpu is not None:
                row.cpu = cpu
            if mem is not None:
                row.memory = mem
            if rule_json is not None:
                # {} clears the override: the workload follows plat.toml's placement again.
                row.placement_json = rule_json if rule_json != "{}" else None
            after = _desired_scale(current, {**scales, workload: row})
        session.add(row)
        old, new = before[workload], after[workload]
        stop_first = _refuse_shared_volume(manifest_of(current), workload, new["count"], ref.path)
        replaces = old["cpu"] != new["cpu"] or old["memory"] != new["memory"]
        verb = "reset the scale of" if reset else "scaled"
        how = " to plat.toml" if reset else ""
        message = (f"{principal.name} {verb} {workload}{how}: "
                   f"{_scale_text(old)} -> {_scale_text(new)}")
        if rule_json is not None:
            message += f"; placement {_placement_text(rule_json)}"
        session.flush()
        placement.replace(session, ctx.clock, ctx.membership, actor=principal.name)
        eventlog.record(
            session,
            ctx.clock,
            env_id=ref.env.id,
            release_id=current.id,
            workload=workload,
            step="scale",
            outcome="ok",
            message=message,
            actor=principal.name,
        )
    return {
        "action": "scale",
        "target": ref.path,
        "workload": workload,
        "release": f"v{current.seq}",
        "old": _scale_view(old),
        "new": _scale_view(new),
        "reset": reset,
        "placement": _placement_text(rule_json) if rule_json is not None else None,
        "replaces_instances": replaces,
        "stop_first": stop_first if replaces else None,
        "follow_ups": [f"plat status --target {ref.path}", f"plat events --target {ref.path}"],
    }


def _refuse_shared_volume(
    manifest: Manifest, workload: str, count: int, path: str
) -> str | None:
    """A workload that mounts a volume read-write runs at most one instance; returns the
    stop-first reason for it (None if it mounts no volume read-write)."""
    mounts = writable([m for m in manifest.volumes if m.workload == workload])
    if not mounts:
        return None
    if count > 1:
        raise Conflict(
            count_problem(workload, count, mounts[0]),
            hint=[
                f"keep {workload} at count 1 (or 0): plat scale {workload} --count 1 "
                f"--target {path}",
                f"or mount {mounts[0].name} with read_only = true in plat.toml and deploy",
            ],
        )
    return stop_first_reason(workload, mounts)


def _placement_json(rule: dict[str, Any]) -> str:
    """``{"region": "eu-west", "labels": {"disk": "ssd"}}`` checked, as stored."""
    region = rule.get("region")
    labels = rule.get("labels") or {}
    if region is not None and (not isinstance(region, str) or len(region) > 64):
        raise InvalidInput(f"region {region!r} is not a region name",
                           hint="pass --region NAME, e.g. --region eu-west (see plat hosts)")
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k and len(k) <= 64 and len(v) <= 64
        for k, v in labels.items()
    ):
        raise InvalidInput("labels must be NAME=VALUE pairs of up to 64 characters",
                           hint="pass --label disk=ssd (repeat for more)")
    out: dict[str, Any] = {}
    if region:
        out["region"] = region
    if labels:
        out["labels"] = dict(sorted(labels.items()))
    return json.dumps(out, sort_keys=True)


def _placement_text(rule_json: str) -> str:
    rule = json.loads(rule_json)
    if not rule:
        return "as in plat.toml"
    parts = [f"region {rule['region']}"] if rule.get("region") else []
    parts += [f"{k}={v}" for k, v in sorted((rule.get("labels") or {}).items())]
    return ", ".join(parts)


def _fixed_count(count: int | None, minimum: int | None, maximum: int | None) -> int | None:
    if minimum is None and maximum is None:
        return count
    if minimum is None or maximum is None or minimum != maximum:
        raise InvalidInput(
            "v1 runs a fixed number of instances: --min and --max must be given together "
            "and be equal",
            hint="use --count N (autoscaling between a minimum and a maximum is not built yet)",
        )
    if count is not None and count != minimum:
        raise InvalidInput(f"--count {count} contradicts --min/--max {minimum}")
    return minimum


def _scale_view(s: dict[str, Any]) -> dict[str, Any]:
    return {"count": s["count"], "cpu": s["cpu"], "memory": format_size(s["memory"])}


def _scale_text(s: dict[str, Any]) -> str:
    return f"{s['count']} × ({s['cpu']:g} cpu, {format_size(s['memory'])})"
