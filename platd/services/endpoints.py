"""Endpoints: L4 ingress rules of an env, the addresses they get, and what is exposed.

An endpoint maps external ports on addresses from this host's pool to one workload's internal
port. IPv6 is on unless turned off; IPv4 only when asked. Endpoints come from two places: the
``[[endpoints]]`` of the env's current release (kept in step by ``sync_manifest``, called inside
the deploy and rollback transaction, so a refused endpoint refuses the deploy and nothing is
written) and ``plat endpoints create``. Every check happens before the one write, so a refusal
changes nothing.

The ingress controller reads ``ingress_config``: every live endpoint served by this host with
the healthy instances behind it.
"""

from __future__ import annotations

import dataclasses
import errno
import ipaddress
import json
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from platd.auth.tokens import Principal
from platd.ingress.model import Backend, IngressConfig, Listener
from platd.services import events, tenancy
from platd.spec.errors import Conflict, InvalidInput, NotFound
from platd.spec.ids import uuid7
from platd.spec.manifest import Endpoint, Manifest
from platd.spec.names import check_name
from platd.store.db import Store
from platd.store.models import App, EndpointRow, Env, Instance, Org, Project, Release

NOTE_PROXY = ("PROXY protocol v2: every connection to the app starts with a binary PROXY v2 "
              "header carrying the client's address; the app must parse it (nginx: listen ... "
              "proxy_protocol; HAProxy: accept-proxy)")
NOTE_TLS = "TLS is the app's responsibility: bytes are passed through as they come (L4)"
NOTE_NO_V4 = "IPv4 is off: add it with --ipv4 (or ipv4 = true in plat.toml)"
MAX_PREFIX_SCAN = 65536


@dataclass(frozen=True)
class Pools:
    """This host's endpoint addresses: single addresses or prefixes routed to the host."""

    ipv6: tuple[str, ...] = ("::1",)
    ipv4: tuple[str, ...] = ("127.0.0.1",)

    def of(self, family: str) -> tuple[str, ...]:
        return self.ipv6 if family == "ipv6" else self.ipv4


@dataclass
class _Host:
    pools: Pools = field(default_factory=Pools)
    probe_ports: bool = True  # refuse ports another program on this host already holds


HOST = _Host()


def configure(pools: Pools, *, probe_ports: bool = True) -> None:
    """Set this daemon's pools (platd.toml ``ingress_ipv6``/``ingress_ipv4``) once at start."""
    HOST.pools = pools
    HOST.probe_ports = probe_ports


# --- reading rows ----------------------------------------------------------------------------


def _live_rows(session: Session, env_id: str | None = None) -> list[EndpointRow]:
    query = select(EndpointRow).where(EndpointRow.deleted == False)  # noqa: E712
    if env_id is not None:
        query = query.where(EndpointRow.env_id == env_id)
    return list(session.exec(query.order_by(col(EndpointRow.name))).all())


def _ports(row: EndpointRow) -> list[int]:
    ports: list[int] = json.loads(row.external_ports_json)
    return ports


def _bindings(row: EndpointRow) -> list[tuple[str, str, int]]:
    """(family, address, port) of everything the endpoint listens on."""
    out = []
    for port in _ports(row):
        if row.ipv6 and row.ipv6_address:
            out.append(("ipv6", row.ipv6_address, port))
        if row.ipv4 and row.ipv4_address:
            out.append(("ipv4", row.ipv4_address, port))
    return out


def _env_paths(session: Session) -> dict[str, tuple[str, str]]:
    """env id -> (org id, "org/project/app/env") for every env whose whole path is live."""
    orgs = {o.id: o for o in session.exec(select(Org).where(Org.deleted == False))}  # noqa: E712
    projects = {p.id: p for p in session.exec(select(Project).where(Project.deleted == False))}  # noqa: E712
    apps = {a.id: a for a in session.exec(select(App).where(App.deleted == False))}  # noqa: E712
    out = {}
    for env in session.exec(select(Env).where(Env.deleted == False)):  # noqa: E712
        app = apps.get(env.app_id)
        project = projects.get(app.project_id) if app else None
        org = orgs.get(project.org_id) if project else None
        if app and project and org:
            out[env.id] = (org.id, f"{org.name}/{project.name}/{app.name}/{env.name}")
    return out


# --- checks and allocation -------------------------------------------------------------------


@dataclass(frozen=True)
class Wanted:
    """An endpoint as asked for, before addresses are allocated."""

    name: str
    workload: str
    internal_port: int
    external_ports: tuple[int, ...]
    ipv6: bool = True
    ipv4: bool = False
    proxy_protocol: str | None = None

    @classmethod
    def of(cls, e: Endpoint) -> Wanted:
        return cls(e.name, e.workload, e.internal_port, tuple(e.external_ports), e.ipv6, e.ipv4,
                   e.proxy_protocol)


def check_wanted(w: Wanted, manifest: Manifest | None, target: str) -> None:
    """Everything that can be said about one endpoint without looking at other endpoints."""
    check_name("endpoint", w.name)
    problems = []
    for port in (*w.external_ports, w.internal_port):
        if not isinstance(port, int) or not 1 <= port <= 65535:
            problems.append(f"port {port} is out of range (1-65535)")
    if not w.external_ports:
        problems.append("an endpoint needs at least one external port")
    if len(set(w.external_ports)) != len(w.external_ports):
        problems.append("external ports are listed twice")
    if not w.ipv6 and not w.ipv4:
        problems.append("an endpoint must listen on IPv6, IPv4 or both")
    if w.proxy_protocol not in (None, "v2"):
        problems.append(f"proxy protocol must be v2 or none, got {w.proxy_protocol!r}")
    if problems:
        raise InvalidInput(f"endpoint {w.name}: " + "; ".join(problems),
                           hint="external and internal ports are 1-65535, e.g. --port 80 "
                           "--internal-port 8080")
    if manifest is None:
        raise NotFound(
            f"{target} has nothing deployed, so there is no workload {w.workload!r} to expose",
            hint=f"deploy first: plat deploy -f plat.toml --target {target}",
        )
    workload = manifest.workloads.get(w.workload)
    if workload is None:
        names = ", ".join(sorted(manifest.workloads)) or "none"
        raise NotFound(f"no workload {w.workload!r} in the current release of {target} "
                       f"(workloads: {names})",
                       hint="pass one of them with --workload")
    exposed = set(workload.ports) | {e.internal_port for e in manifest.endpoints
                                     if e.workload == w.workload}
    if workload.health and workload.health.port:
        exposed.add(workload.health.port)
    if w.internal_port not in exposed:
        shown = ", ".join(str(p) for p in sorted(exposed)) or "none"
        raise InvalidInput(
            f"workload {w.workload} does not expose port {w.internal_port} (its ports: {shown})",
            hint=[f"list it in plat.toml: [workloads.{w.workload}] ports = [{w.internal_port}], "
                  "and deploy", "or pick one of its ports with --internal-port"],
        )


def _holder(row: EndpointRow, paths: dict[str, tuple[str, str]], org_id: str) -> str:
    owner = paths.get(row.env_id)
    if owner is None:
        return f"endpoint {row.name}"
    if owner[0] != org_id:
        return "an endpoint of another org"
    return f"endpoint {row.name} of {owner[1]}"


def _port_free_on_host(family: str, address: str, port: int) -> str | None:
    """Why ``address:port`` cannot be listened on by this host, or None if it is free."""
    if not HOST.probe_ports:
        return None
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


def _candidates(entry: str) -> Iterable[str]:
    net = ipaddress.ip_network(entry, strict=False)
    if net.num_addresses == 1:
        yield str(net.network_address)
        return
    for i, host in enumerate(net.hosts()):
        if i >= MAX_PREFIX_SCAN:
            return
        yield str(host)


Taken = dict[tuple[str, str, int], str]


def allocate(
    family: str, ports: tuple[int, ...], pool: tuple[str, ...], taken: Taken,
    keep: str | None = None,
) -> str:
    """An address of ``pool`` where every port is free; prefixes give each endpoint its own.

    ``taken`` maps (family, address, port) to who holds it; ``keep`` is the address the endpoint
    already has (kept when still free, so a change never moves an endpoint).
    """
    label = "IPv6" if family == "ipv6" else "IPv4"
    if not pool:
        raise InvalidInput(
            f"{label} was asked for but this host's {label} pool is empty",
            hint=[f"add addresses to ingress_{family} in platd.toml and restart platd",
                  f"or create the endpoint without {label}"],
        )
    used_addresses = {addr for (fam, addr, _p) in taken if fam == family}
    reasons: list[str] = []

    def free(addr: str) -> bool:
        for port in ports:
            holder = taken.get((family, addr, port))
            why = f"taken by {holder}" if holder is not None else None
            if why is None and addr != keep:
                why = _port_free_on_host(family, addr, port)
            if why is not None:
                shown = f"[{addr}]:{port}" if family == "ipv6" else f"{addr}:{port}"
                reasons.append(f"{shown} is {why}")
                return False
        return True

    in_pool = keep is not None and any(
        ipaddress.ip_address(keep) in ipaddress.ip_network(e, strict=False) for e in pool)
    if in_pool and keep is not None and free(keep):
        return keep
    for entry in pool:
        single = ipaddress.ip_network(entry, strict=False).num_addresses == 1
        for addr in _candidates(entry):
            if not single and addr in used_addresses:
                continue  # a prefix hands each endpoint an address of its own
            if free(addr):
                return addr
    raise Conflict(
        f"no {label} address in this host's pool has port(s) "
        f"{', '.join(map(str, ports))} free: " + "; ".join(reasons[:3]),
        hint=["pick other external ports", "or free them: plat exposed shows what holds them"],
        details={"taken": reasons},
    )


def _taken(session: Session, host_id: str, paths: dict[str, tuple[str, str]], org_id: str,
           skip: set[str]) -> dict[tuple[str, str, int], str]:
    out = {}
    for row in _live_rows(session):
        if row.id in skip or row.host_id != host_id or row.env_id not in paths:
            continue
        for key in _bindings(row):
            out[key] = _holder(row, paths, org_id)
    return out


def _place(session: Session, store: Store, w: Wanted, row: EndpointRow | None,
           paths: dict[str, tuple[str, str]], org_id: str,
           taken: dict[tuple[str, str, int], str]) -> tuple[str | None, str | None]:
    """Addresses for ``w``; ``taken`` is updated so endpoints placed together cannot collide."""
    pools = HOST.pools
    v6 = v4 = None
    if w.ipv6:
        v6 = allocate("ipv6", w.external_ports, pools.ipv6, taken,
                      keep=row.ipv6_address if row is not None else None)
    if w.ipv4:
        v4 = allocate("ipv4", w.external_ports, pools.ipv4, taken,
                      keep=row.ipv4_address if row is not None else None)
    holder = f"endpoint {w.name}"
    for port in w.external_ports:
        if v6:
            taken[("ipv6", v6, port)] = holder
        if v4:
            taken[("ipv4", v4, port)] = holder
    return v6, v4


def _write(session: Session, store: Store, env_id: str, w: Wanted, source: str,
           v6: str | None, v4: str | None, row: EndpointRow | None, actor: str) -> EndpointRow:
    now = time.time()
    if row is None:
        row = EndpointRow(id=uuid7(), env_id=env_id, name=w.name, source=source,
                          workload=w.workload, internal_port=w.internal_port,
                          external_ports_json="[]", host_id=store.host_id, created_at=now,
                          created_by=actor, updated_at=now)
    row.workload, row.internal_port = w.workload, w.internal_port
    row.external_ports_json = json.dumps(list(w.external_ports))
    row.ipv6, row.ipv4, row.proxy_protocol = w.ipv6, w.ipv4, w.proxy_protocol
    row.ipv6_address, row.ipv4_address = v6, v4
    row.source, row.updated_at = source, now
    session.add(row)
    return row


def _same(row: EndpointRow, w: Wanted) -> bool:
    return (row.workload, row.internal_port, tuple(_ports(row)), row.ipv6, row.ipv4,
            row.proxy_protocol) == (w.workload, w.internal_port, w.external_ports, w.ipv6,
                                    w.ipv4, w.proxy_protocol)


# --- what deploy and rollback call -----------------------------------------------------------


def sync_manifest(session: Session, store: Store, ref: tenancy.EnvRef, manifest: Manifest,
                  actor: str) -> list[str]:
    """Make the env's manifest endpoints those of ``manifest``; notes for the receipt.

    Runs inside the deploy/rollback transaction: a Conflict here refuses the whole change.
    """
    rows = {r.name: r for r in _live_rows(session, ref.env.id)}
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
    taken = _taken(session, store.host_id, paths, ref.org.id, skip)
    for name, w in sorted(declared.items()):
        row = rows.get(name)
        if row is not None and _same(row, w):
            # Unchanged: it keeps its addresses; still reserve them against the others.
            for key in _bindings(row):
                taken[key] = f"endpoint {name}"
            continue
        try:
            v6, v4 = _place(session, store, w, row, paths, ref.org.id, taken)
        except (Conflict, InvalidInput) as e:
            e.message = f"endpoint {name} of plat.toml: {e.message}"
            raise
        new = _write(session, store, ref.env.id, w, "manifest", v6, v4, row, actor)
        verb = "created" if row is None else "changed"
        notes.append(f"endpoint {name} {verb}: " + ", ".join(_addresses(new))
                     + ("" if new.ipv4 else " (IPv4 off)"))
        if new.proxy_protocol == "v2":
            notes.append(f"endpoint {name}: {NOTE_PROXY}")
        if NOTE_TLS not in notes:
            notes.append(NOTE_TLS)
        events.record(session, store, env_id=ref.env.id, step="endpoint", outcome="ok",
                      message=f"endpoint {name} {verb}: " + ", ".join(_addresses(new)),
                      actor=actor)
    for name, row in rows.items():
        if row.source == "manifest" and name not in declared:
            row.deleted, row.updated_at = True, time.time()
            session.add(row)
            notes.append(f"endpoint {name} removed (not in this release's plat.toml)")
            events.record(session, store, env_id=ref.env.id, step="endpoint", outcome="ok",
                          message=f"endpoint {name} removed", actor=actor)
    return notes


# --- the user-facing operations --------------------------------------------------------------


def _addresses(row: EndpointRow) -> list[str]:
    out = []
    for fam, addr, port in _bindings(row):
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


def _instances_behind(session: Session, row: EndpointRow) -> list[dict[str, Any]]:
    rows = session.exec(select(Instance).where(
        Instance.env_id == row.env_id, Instance.workload == row.workload,
        Instance.deleted == False)).all()  # noqa: E712
    out = []
    for i in rows:
        if i.state == "pending":
            continue
        serving = i.state == "running" and i.health == "healthy"
        out.append({"id": i.id, "state": i.state, "health": i.health,
                    "serving": serving, "dial": _dial(i, row.internal_port)})
    return sorted(out, key=lambda x: x["id"])


def to_dict(session: Session, row: EndpointRow, path: str) -> dict[str, Any]:
    return {
        "id": row.id, "name": row.name, "target": path, "source": row.source,
        "protocol": row.protocol, "workload": row.workload,
        "internal_port": row.internal_port, "external_ports": _ports(row),
        "ipv6": row.ipv6, "ipv4": row.ipv4,
        "ipv6_address": row.ipv6_address if row.ipv6 else None,
        "ipv4_address": row.ipv4_address if row.ipv4 else None,
        "proxy_protocol": row.proxy_protocol, "addresses": _addresses(row),
        "host": row.host_id, "created_at": row.created_at, "created_by": row.created_by,
        "updated_at": row.updated_at, "notes": _notes(row),
        "instances": _instances_behind(session, row),
    }


def _current_manifest(session: Session, env: Env) -> Manifest | None:
    from platd.services.releases import manifest_of

    if not env.current_release_id:
        return None
    release = session.get(Release, env.current_release_id)
    return manifest_of(release) if release else None


def create(store: Store, principal: Principal, target: str, w: Wanted) -> dict[str, Any]:
    with store.write() as session:
        ref = tenancy.resolve_env(session, principal, target)
        principal.require(ref.org.id, "deployer")
        check_name("endpoint", w.name)
        existing = {r.name: r for r in _live_rows(session, ref.env.id)}
        if w.name in existing:
            raise Conflict(
                f"{ref.path} already has an endpoint {w.name} "
                f"({', '.join(_addresses(existing[w.name]))})",
                hint=[f"see it: plat endpoints describe {w.name} --target {ref.path}",
                      f"or delete it first: plat endpoints delete {w.name} --target {ref.path}"],
            )
        check_wanted(w, _current_manifest(session, ref.env), ref.path)
        paths = _env_paths(session)
        taken = _taken(session, store.host_id, paths, ref.org.id, set())
        v6, v4 = _place(session, store, w, None, paths, ref.org.id, taken)
        row = _write(session, store, ref.env.id, w, "cli", v6, v4, None, principal.name)
        events.record(session, store, env_id=ref.env.id, step="endpoint", outcome="ok",
                      message=f"{principal.name} created endpoint {w.name}: "
                      + ", ".join(_addresses(row)), actor=principal.name)
        session.flush()
        return {"action": "created", **to_dict(session, row, ref.path)}


def update(store: Store, principal: Principal, target: str, name: str,
           changes: dict[str, Any]) -> dict[str, Any]:
    """Change an endpoint made with ``create``; it keeps its addresses where it can."""
    with store.write() as session:
        ref = tenancy.resolve_env(session, principal, target)
        principal.require(ref.org.id, "deployer")
        row = _find(session, ref, name)
        if row.source == "manifest":
            raise Conflict(
                f"endpoint {name} is declared in the plat.toml of {ref.path}'s current release",
                hint="change it in [[endpoints]] in plat.toml and deploy",
            )
        current = Wanted(row.name, row.workload, row.internal_port, tuple(_ports(row)),
                         row.ipv6, row.ipv4, row.proxy_protocol)
        w = dataclasses.replace(current, **changes)
        if w == current:
            raise InvalidInput(f"endpoint {name} already is like that: nothing to change",
                               hint=f"see it: plat endpoints describe {name} --target {ref.path}")
        check_wanted(w, _current_manifest(session, ref.env), ref.path)
        paths = _env_paths(session)
        taken = _taken(session, store.host_id, paths, ref.org.id, {row.id})
        v6, v4 = _place(session, store, w, row, paths, ref.org.id, taken)
        row = _write(session, store, ref.env.id, w, "cli", v6, v4, row, principal.name)
        events.record(session, store, env_id=ref.env.id, step="endpoint", outcome="ok",
                      message=f"{principal.name} changed endpoint {name}: "
                      + ", ".join(_addresses(row)), actor=principal.name)
        session.flush()
        return {"action": "changed", **to_dict(session, row, ref.path)}


def _find(session: Session, ref: tenancy.EnvRef, name: str) -> EndpointRow:
    rows = _live_rows(session, ref.env.id)
    for r in rows:
        if r.name == name:
            return r
    have = ", ".join(r.name for r in rows) or "none"
    raise NotFound(f"no endpoint {name!r} in {ref.path} (endpoints there: {have})",
                   hint=f"list them with: plat endpoints list --target {ref.path}")


def list_(store: Store, principal: Principal, target: str) -> dict[str, Any]:
    with store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        rows = _live_rows(session, ref.env.id)
        return {"target": ref.path, "endpoints": [to_dict(session, r, ref.path) for r in rows]}


def describe(store: Store, principal: Principal, target: str, name: str) -> dict[str, Any]:
    with store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        return to_dict(session, _find(session, ref, name), ref.path)


def delete(store: Store, principal: Principal, target: str, name: str) -> dict[str, Any]:
    with store.write() as session:
        ref = tenancy.resolve_env(session, principal, target)
        principal.require(ref.org.id, "deployer")
        row = _find(session, ref, name)
        if row.source == "manifest":
            raise Conflict(
                f"endpoint {name} is declared in the plat.toml of {ref.path}'s current release",
                hint="remove it from [[endpoints]] in plat.toml and deploy",
            )
        row.deleted, row.updated_at = True, time.time()
        session.add(row)
        events.record(session, store, env_id=ref.env.id, step="endpoint", outcome="ok",
                      message=f"{principal.name} deleted endpoint {name}", actor=principal.name)
        session.flush()
        return {"action": "deleted", **to_dict(session, row, ref.path)}


def exposed(store: Store, principal: Principal, org: str) -> dict[str, Any]:
    """Everything in ``org`` reachable from outside: one row per family, address and port."""
    with store.read() as session:
        (org_row,) = tenancy.resolve(session, principal, tenancy.split_path(org, 1))
        paths = _env_paths(session)
        rows = []
        for r in _live_rows(session):
            owner = paths.get(r.env_id)
            if owner is None or owner[0] != org_row.id:
                continue
            behind = _instances_behind(session, r)
            for fam, addr, port in _bindings(r):
                rows.append({
                    "family": fam, "address": addr, "port": port, "protocol": r.protocol,
                    "proxy_protocol": r.proxy_protocol, "target": owner[1],
                    "endpoint": r.name, "workload": r.workload,
                    "internal_port": r.internal_port, "source": r.source,
                    "instances": [i["id"] for i in behind if i["serving"]],
                    "instances_not_serving": [i["id"] for i in behind if not i["serving"]],
                })
        rows.sort(key=lambda x: (x["target"], x["endpoint"], x["family"] != "ipv6", x["port"]))
        return {"org": org_row.name, "exposed": rows}


# --- what the ingress controller reads -------------------------------------------------------


def _dial(i: Instance, internal_port: int) -> str | None:
    if i.ip:
        return f"{i.ip}:{internal_port}"
    published = json.loads(i.ports_json).get(str(internal_port))
    return str(published) if published else None


def ingress_config(store: Store, host_id: str,
                   draining: frozenset[str] = frozenset()) -> IngressConfig:
    """Every live endpoint this host serves, with its healthy instances (minus ``draining``)."""
    with store.read() as session:
        paths = _env_paths(session)
        rows = [r for r in _live_rows(session) if r.host_id == host_id and r.env_id in paths]
        if not rows:
            return IngressConfig()
        env_ids = {r.env_id for r in rows}
        instances = session.exec(select(Instance).where(
            col(Instance.env_id).in_(env_ids), Instance.deleted == False,  # noqa: E712
            Instance.host_id == host_id)).all()
        listeners = []
        for r in rows:
            backends = []
            for i in instances:
                if (i.env_id, i.workload) != (r.env_id, r.workload) or i.id in draining:
                    continue
                if i.state != "running" or i.health != "healthy":
                    continue
                # The proxy dials the instance's address on the engine's bridge network: a
                # stopped app refuses there at once (so the next instance is tried), and no
                # userland docker-proxy copies the bytes again. Without a bridge address (host
                # networking), the port published on 127.0.0.1 is used instead.
                dial = _dial(i, r.internal_port)
                if dial is None:
                    continue
                host, _, dial_port = dial.rpartition(":")
                backends.append(Backend(host.strip("[]"), int(dial_port), i.id))
            backends.sort()
            for fam, addr, port in _bindings(r):
                listeners.append(Listener(
                    family=fam, address=addr, port=port, endpoint_id=r.id,
                    name=f"{paths[r.env_id][1]} {r.name}", proxy_v2=r.proxy_protocol == "v2",
                    backends=tuple(backends),
                ))
        return IngressConfig(tuple(sorted(listeners, key=lambda x: x.key)))
