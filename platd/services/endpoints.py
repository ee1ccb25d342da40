"""Endpoints: L4 ingress rules of an env, the addresses they get, and what is exposed.

An endpoint maps external ports on addresses from this host's pool to one workload's internal
port. IPv6 is on unless turned off; IPv4 only when asked. Endpoints come from two places: the
``[[endpoints]]`` of the env's current release (kept in step by ``sync_manifest``, called inside
the deploy and rollback transaction, so a refused endpoint refuses the deploy and nothing is
written) and ``plat endpoints create``. Every check happens before the one write, so a refusal
changes nothing. The rules themselves (what may be asked, which address is given) are pure, in
``platd.spec.endpoints``; the ingress controller builds its config in ``platd.ingress.config``.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import socket
from typing import Any

from sqlmodel import Session, select

from platd.auth.tokens import Principal
from platd.clock import Clock
from platd.services import tenancy
from platd.services.context import ServiceContext
from platd.spec.endpoints import Taken, Wanted, check_protocol, check_wanted, place
from platd.spec.errors import Conflict, InvalidInput, NotFound
from platd.spec.ids import uuid7
from platd.spec.manifest import Manifest
from platd.spec.names import check_name
from platd.store import eventlog
from platd.store.models import ENGINE_UNREACHABLE, EndpointRow, Env, Host, Instance
from platd.store.queries import (
    current_release,
    endpoint_bindings,
    endpoint_ports,
    instance_dial,
    live_endpoints,
    live_envs,
    manifest_of,
)

NOTE_PROXY = ("PROXY protocol v2: every connection to the app starts with a binary PROXY v2 "
              "header carrying the client's address; the app must parse it (nginx: listen ... "
              "proxy_protocol; HAProxy: accept-proxy)")
NOTE_TLS = "TLS is the app's responsibility: bytes are passed through as they come (L4)"
NOTE_NO_V4 = "IPv4 is off: add it with --ipv4 (or ipv4 = true in plat.toml)"

# env id -> (org id, "org/project/app/env") for every env whose whole path is live.
Paths = dict[str, tuple[str, str]]


def probe_host_port(family: str, address: str, port: int) -> str | None:
    """Why this host cannot listen on ``address:port`` (another program holds it, the address is
    not configured here), or None if it can: the ``PortProbe`` a real daemon allocates with."""
    fam = socket.AF_INET6 if family == "ipv6" else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        try:
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((address, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return "taken by another program on this host"
            if e.errno == errno.EADDRNOTAVAIL:
                return "not usable: the address is not configured on this host"
            return f"not usable: {e.strerror or e}"
    return None


# --- reading rows ----------------------------------------------------------------------------


def _env_paths(session: Session) -> Paths:
    return {e.env.id: (e.org_id, e.path) for e in live_envs(session)}


def _holder(row: EndpointRow, paths: Paths, org_id: str) -> str:
    owner = paths.get(row.env_id)
    if owner is None:
        return f"endpoint {row.name}"
    if owner[0] != org_id:
        return "an endpoint of another org"
    return f"endpoint {row.name} of {owner[1]}"


def _taken(session: Session, host_id: str, paths: Paths, org_id: str, skip: set[str]) -> Taken:
    out = {}
    for row in live_endpoints(session):
        if row.id in skip or row.host_id != host_id or row.env_id not in paths:
            continue
        for key in endpoint_bindings(row):
            out[key] = _holder(row, paths, org_id)
    return out


def _place(ctx: ServiceContext, w: Wanted, row: EndpointRow | None,
           taken: Taken) -> tuple[str | None, str | None]:
    return place(w, ctx.endpoints.pools, taken,
                 keep_v6=row.ipv6_address if row is not None else None,
                 keep_v4=row.ipv4_address if row is not None else None,
                 probe=ctx.endpoints.probe)


def _write(session: Session, clock: Clock, host_id: str, env_id: str, w: Wanted, source: str,
           v6: str | None, v4: str | None, row: EndpointRow | None, actor: str) -> EndpointRow:
    now = clock.time()
    if row is None:
        row = EndpointRow(id=uuid7(), env_id=env_id, name=w.name, source=source,
                          workload=w.workload, internal_port=w.internal_port,
                          external_ports_json="[]", host_id=host_id, created_at=now,
                          created_by=actor, updated_at=now)
    row.workload, row.internal_port = w.workload, w.internal_port
    row.external_ports_json = json.dumps(list(w.external_ports))
    row.ipv6, row.ipv4, row.proxy_protocol = w.ipv6, w.ipv4, w.proxy_protocol
    row.ipv6_address, row.ipv4_address = v6, v4
    row.source, row.updated_at = source, now
    session.add(row)
    return row


def _same(row: EndpointRow, w: Wanted) -> bool:
    return (row.workload, row.internal_port, tuple(endpoint_ports(row)), row.ipv6, row.ipv4,
            row.proxy_protocol) == (w.workload, w.internal_port, w.external_ports, w.ipv6,
                                    w.ipv4, w.proxy_protocol)


# --- what deploy and rollback call -----------------------------------------------------------


def sync_manifest(session: Session, ctx: ServiceContext, ref: tenancy.EnvRef, manifest: Manifest,
                  actor: str) -> list[str]:
    """Make the env's manifest endpoints those of ``manifest``; notes for the receipt.

    Runs inside the deploy/rollback transaction: a Conflict here refuses the whole change.
    """
    rows = {r.name: r for r in live_endpoints(session, ref.env.id)}
    paths = _env_paths(session)
    declared = {e.name: Wanted.of(e) for e in manifest.endpoints}
    notes = []
    for name in declared:
        row = rows.get(name)
        if row is not None and row.source == "cli":
            raise Conflict(
                f"the manifest declares endpoint {name}, but {ref.path} already has an endpoint "
                "of that name made with plat endpoints create",
                hint=f"delete it first: plat endpoints delete {name} --target {ref.path}, or "
                "rename the one in plat.toml",
            )
    skip = {r.id for r in rows.values() if r.source == "manifest"}
    taken = _taken(session, ctx.host.id, paths, ref.org.id, skip)
    for name, w in sorted(declared.items()):
        row = rows.get(name)
        if row is not None and _same(row, w):
            # Unchanged: it keeps its addresses; still reserve them against the others.
            for key in endpoint_bindings(row):
                taken[key] = f"endpoint {name}"
            continue
        try:
            v6, v4 = _place(ctx, w, row, taken)
        except (Conflict, InvalidInput) as e:
            e.message = f"endpoint {name} of plat.toml: {e.message}"
            raise
        new = _write(session, ctx.clock, ctx.host.id, ref.env.id, w, "manifest", v6, v4, row,
                     actor)
        verb = "created" if row is None else "changed"
        notes.append(f"endpoint {name} {verb}: " + ", ".join(_addresses(new))
                     + ("" if new.ipv4 else " (IPv4 off)"))
        if new.proxy_protocol == "v2":
            notes.append(f"endpoint {name}: {NOTE_PROXY}")
        if NOTE_TLS not in notes:
            notes.append(NOTE_TLS)
        eventlog.record(session, ctx.clock, env_id=ref.env.id, step="endpoint", outcome="ok",
                        message=f"endpoint {name} {verb}: " + ", ".join(_addresses(new)),
                        actor=actor)
    for name, row in rows.items():
        if row.source == "manifest" and name not in declared:
            row.deleted, row.updated_at = True, ctx.clock.time()
            session.add(row)
            notes.append(f"endpoint {name} removed (not in this release's plat.toml)")
            eventlog.record(session, ctx.clock, env_id=ref.env.id, step="endpoint",
                            outcome="ok", message=f"endpoint {name} removed", actor=actor)
    return notes


# --- the user-facing operations --------------------------------------------------------------


def _addresses(row: EndpointRow) -> list[str]:
    out = []
    for fam, addr, port in endpoint_bindings(row):
        out.append(f"[{addr}]:{port}" if fam == "ipv6" else f"{addr}:{port}")
    return out


def _notes(row: EndpointRow) -> list[str]:
    notes = []
    if row.proxy_protocol == "v2":
        notes.append(NOTE_PROXY)
    notes.append(NOTE_TLS)
    if not row.ipv4:
        notes.append(NOTE_NO_V4)
    return notes


def _instances_behind(session: Session, row: EndpointRow, reach: frozenset[str] | None = None,
                      instances: list[Instance] | None = None) -> list[dict[str, Any]]:
    """``instances``: the env's live instances, when the caller has them (``plat status``
    lists every endpoint of the env: one query for all, not one per endpoint)."""
    if instances is None:
        rows: Any = session.exec(select(Instance).where(
            Instance.env_id == row.env_id, Instance.workload == row.workload,
            Instance.deleted == False)).all()  # noqa: E712
    else:
        rows = [i for i in instances if i.workload == row.workload and i.env_id == row.env_id]
    out = []
    for i in rows:
        if i.state == "pending":
            continue
        # The endpoint's host proxies to the instances it runs, and with ``reach`` (the
        # haproxy driver on a cluster: platd/ingress/config.py) to those of the live hosts
        # through their hops. An instance whose engine does not answer may still run:
        # ingress keeps dialling it.
        serving = ((i.state == "running" and i.health == "healthy")
                   or i.state == ENGINE_UNREACHABLE) and (
            not i.host_id or i.host_id == row.host_id
            or (reach is not None and i.host_id in reach))
        out.append({"id": i.id, "state": i.state, "health": i.health,
                    "serving": serving, "dial": instance_dial(i, row.internal_port),
                    "host": i.host_id})
    return sorted(out, key=lambda x: x["id"])


def _reach(ctx: ServiceContext) -> frozenset[str] | None:
    return ctx.endpoints.reach(ctx.membership)


def to_dict(session: Session, row: EndpointRow, path: str,
            reach: frozenset[str] | None = None,
            instances: list[Instance] | None = None) -> dict[str, Any]:
    return {
        "id": row.id, "name": row.name, "target": path, "source": row.source,
        "protocol": row.protocol, "workload": row.workload,
        "internal_port": row.internal_port, "external_ports": endpoint_ports(row),
        "ipv6": row.ipv6, "ipv4": row.ipv4,
        "ipv6_address": row.ipv6_address if row.ipv6 else None,
        "ipv4_address": row.ipv4_address if row.ipv4 else None,
        "proxy_protocol": row.proxy_protocol, "addresses": _addresses(row),
        "host": row.host_id, "created_at": row.created_at, "created_by": row.created_by,
        "updated_at": row.updated_at, "notes": _notes(row),
        "instances": _instances_behind(session, row, reach, instances),
    }


def _current_manifest(session: Session, env: Env) -> Manifest | None:
    release = current_release(session, env)
    return manifest_of(release) if release else None


def create(
    ctx: ServiceContext, principal: Principal, target: str, *, name: str, workload: str,
    internal_port: int, external_ports: list[int] | tuple[int, ...], protocol: str = "tcp",
    ipv6: bool = True, ipv4: bool = False, proxy_protocol: str | None = None,
) -> dict[str, Any]:
    """``plat endpoints create``: allocate addresses for a new endpoint and record it."""
    check_protocol(protocol)
    w = Wanted(name, workload, internal_port, tuple(external_ports), ipv6, ipv4, proxy_protocol)
    with ctx.store.write() as session:
        ref = tenancy.resolve_env(session, principal, target)
        principal.require(ref.org.id, "deployer")
        check_name("endpoint", w.name)
        existing = {r.name: r for r in live_endpoints(session, ref.env.id)}
        if w.name in existing:
            raise Conflict(
                f"{ref.path} already has an endpoint {w.name} "
                f"({', '.join(_addresses(existing[w.name]))})",
                hint=[f"see it: plat endpoints describe {w.name} --target {ref.path}",
                      f"or delete it first: plat endpoints delete {w.name} --target {ref.path}"],
            )
        check_wanted(w, _current_manifest(session, ref.env), ref.path)
        taken = _taken(session, ctx.host.id, _env_paths(session), ref.org.id, set())
        v6, v4 = _place(ctx, w, None, taken)
        row = _write(session, ctx.clock, ctx.host.id, ref.env.id, w, "cli", v6, v4, None,
                     principal.name)
        eventlog.record(session, ctx.clock, env_id=ref.env.id, step="endpoint", outcome="ok",
                        message=f"{principal.name} created endpoint {w.name}: "
                        + ", ".join(_addresses(row)), actor=principal.name)
        session.flush()
        return {"action": "created", **to_dict(session, row, ref.path, _reach(ctx))}


def update(ctx: ServiceContext, principal: Principal, target: str, name: str,
           changes: dict[str, Any]) -> dict[str, Any]:
    """Change an endpoint made with ``create``; it keeps its addresses where it can.

    ``changes`` holds the fields given (None: unchanged); ``proxy_protocol = "none"`` turns the
    PROXY header off."""
    changes = {k: v for k, v in changes.items() if v is not None}
    if "external_ports" in changes:
        changes["external_ports"] = tuple(changes["external_ports"])
    if changes.get("proxy_protocol") == "none":
        changes["proxy_protocol"] = None
    with ctx.store.write() as session:
        ref = tenancy.resolve_env(session, principal, target)
        principal.require(ref.org.id, "deployer")
        row = _find(session, ref, name)
        if row.source == "manifest":
            raise Conflict(
                f"endpoint {name} is declared in the plat.toml of {ref.path}'s current release",
                hint="change it in [[endpoints]] in plat.toml and deploy",
            )
        current = Wanted(row.name, row.workload, row.internal_port, tuple(endpoint_ports(row)),
                         row.ipv6, row.ipv4, row.proxy_protocol)
        w = dataclasses.replace(current, **changes)
        if w == current:
            raise InvalidInput(f"endpoint {name} already is like that: nothing to change",
                               hint=f"see it: plat endpoints describe {name} --target {ref.path}")
        check_wanted(w, _current_manifest(session, ref.env), ref.path)
        taken = _taken(session, ctx.host.id, _env_paths(session), ref.org.id, {row.id})
        v6, v4 = _place(ctx, w, row, taken)
        row = _write(session, ctx.clock, ctx.host.id, ref.env.id, w, "cli", v6, v4, row,
                     principal.name)
        eventlog.record(session, ctx.clock, env_id=ref.env.id, step="endpoint", outcome="ok",
                        message=f"{principal.name} changed endpoint {name}: "
                        + ", ".join(_addresses(row)), actor=principal.name)
        session.flush()
        return {"action": "changed", **to_dict(session, row, ref.path, _reach(ctx))}


def _find(session: Session, ref: tenancy.EnvRef, name: str) -> EndpointRow:
    rows = live_endpoints(session, ref.env.id)
    for r in rows:
        if r.name == name:
            return r
    have = ", ".join(r.name for r in rows) or "none"
    raise NotFound(f"no endpoint {name!r} in {ref.path} (endpoints there: {have})",
                   hint=f"list them with: plat endpoints list --target {ref.path}")


def list_(ctx: ServiceContext, principal: Principal, target: str) -> dict[str, Any]:
    with ctx.store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        rows = live_endpoints(session, ref.env.id)
        reach = _reach(ctx)
        return {"target": ref.path,
                "endpoints": [to_dict(session, r, ref.path, reach) for r in rows]}


def describe(ctx: ServiceContext, principal: Principal, target: str, name: str) -> dict[str, Any]:
    with ctx.store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        return to_dict(session, _find(session, ref, name), ref.path, _reach(ctx))


def delete(ctx: ServiceContext, principal: Principal, target: str, name: str) -> dict[str, Any]:
    with ctx.store.write() as session:
        ref = tenancy.resolve_env(session, principal, target)
        principal.require(ref.org.id, "deployer")
        row = _find(session, ref, name)
        if row.source == "manifest":
            raise Conflict(
                f"endpoint {name} is declared in the plat.toml of {ref.path}'s current release",
                hint="remove it from [[endpoints]] in plat.toml and deploy",
            )
        row.deleted, row.updated_at = True, ctx.clock.time()
        session.add(row)
        eventlog.record(session, ctx.clock, env_id=ref.env.id, step="endpoint", outcome="ok",
                        message=f"{principal.name} deleted endpoint {name}",
                        actor=principal.name)
        session.flush()
        return {"action": "deleted", **to_dict(session, row, ref.path, _reach(ctx))}


def exposed(ctx: ServiceContext, principal: Principal, org: str) -> dict[str, Any]:
    """Everything in ``org`` reachable from outside: one row per family, address and port."""
    with ctx.store.read() as session:
        (org_row,) = tenancy.resolve(session, principal, tenancy.split_path(org, 1))
        paths = _env_paths(session)
        hosts = {h.id: h.name for h in session.exec(select(Host))}
        hosts.setdefault(ctx.host.id, ctx.host.name)
        reach = _reach(ctx)
        rows = []
        for r in live_endpoints(session):
            owner = paths.get(r.env_id)
            if owner is None or owner[0] != org_row.id:
                continue
            behind = _instances_behind(session, r, reach)
            for fam, addr, port in endpoint_bindings(r):
                rows.append({
                    "host": hosts.get(r.host_id, r.host_id[-12:]),
                    "family": fam, "address": addr, "port": port, "protocol": r.protocol,
                    "proxy_protocol": r.proxy_protocol, "target": owner[1],
                    "endpoint": r.name, "workload": r.workload,
                    "internal_port": r.internal_port, "source": r.source,
                    "instances": [i["id"] for i in behind if i["serving"]],
                    "instances_not_serving": [i["id"] for i in behind if not i["serving"]],
                })
        rows.sort(key=lambda x: (x["target"], x["endpoint"], x["family"] != "ipv6", x["port"]))
        return {"org": org_row.name, "exposed": rows}
