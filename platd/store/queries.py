"""Reads that several parts share: live rows, the manifest of a release, where an endpoint listens.

Services, the reconciler and the ingress controller each read the same few things (which envs
are live and their paths, an env's volumes, scales and endpoints, a release's manifest). They
used to borrow them from one another's modules until those imported each other in a circle;
here they depend on the store alone. Nothing here decides a rule or raises a user's error.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlmodel import Session, col, select

from platd.spec.manifest import Manifest
from platd.store.models import (
    App,
    EndpointRow,
    Env,
    Instance,
    Org,
    Project,
    Release,
    Scale,
    Volume,
)


@dataclass(frozen=True)
class LiveEnv:
    """An env whose whole path (org, project, app, env) is live."""

    env: Env
    org_id: str
    path: str  # org/project/app/env


def live_envs(session: Session) -> list[LiveEnv]:
    """Every env whose whole path is live, with its org and its path.

    One join: the reconciler and ingress read this on every pass, and loading every org,
    project and app as objects cost more than the envs themselves once there were many."""
    rows = session.exec(
        select(Env, Org, col(Project.name), col(App.name))
        .join(App, col(App.id) == Env.app_id)
        .join(Project, col(Project.id) == App.project_id)
        .join(Org, col(Org.id) == Project.org_id)
        .where(Env.deleted == False, App.deleted == False,  # noqa: E712
               Project.deleted == False, Org.deleted == False)  # noqa: E712
    )
    return [LiveEnv(env, org.id, f"{org.name}/{project}/{app}/{env.name}")
            for env, org, project, app in rows]


def manifest_of(release: Release) -> Manifest:
    return Manifest.from_dict(json.loads(release.manifest_json))


def current_release(session: Session, env: Env) -> Release | None:
    return session.get(Release, env.current_release_id) if env.current_release_id else None


def spec_hash(release_id: str, workload: str, cpu: float, memory: int) -> str:
    """What ``instances.spec_hash`` holds: instances are replaced exactly when it changes (a
    new release or a cpu/memory change), not on a count change."""
    raw = json.dumps([release_id, workload, cpu, memory])
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def live_scales(session: Session, env_id: str) -> dict[str, Scale]:
    """The env's ``plat scale`` overrides, by workload."""
    rows = session.exec(select(Scale).where(Scale.env_id == env_id, Scale.deleted == False))  # noqa: E712
    return {s.workload: s for s in rows}


def env_instances(session: Session, env_id: str) -> list[Instance]:
    """The env's live instance rows (every host's), by workload and start."""
    return list(session.exec(
        select(Instance)
        .where(Instance.env_id == env_id, Instance.deleted == False)  # noqa: E712
        .order_by(col(Instance.workload), col(Instance.started_at))
    ).all())


def live_volumes(session: Session, env_id: str) -> list[Volume]:
    return list(session.exec(
        select(Volume).where(Volume.env_id == env_id, Volume.deleted == False)  # noqa: E712
        .order_by(col(Volume.name))
    ).all())


def live_endpoints(session: Session, env_id: str | None = None) -> list[EndpointRow]:
    """Live endpoint rows of one env, or of every env, by name."""
    query = select(EndpointRow).where(EndpointRow.deleted == False)  # noqa: E712
    if env_id is not None:
        query = query.where(EndpointRow.env_id == env_id)
    return list(session.exec(query.order_by(col(EndpointRow.name))).all())


def endpoint_ports(row: EndpointRow) -> list[int]:
    ports: list[int] = json.loads(row.external_ports_json)
    return ports


def endpoint_bindings(row: EndpointRow) -> list[tuple[str, str, int]]:
    """(family, address, port) of everything the endpoint listens on."""
    out = []
    for port in endpoint_ports(row):
        if row.ipv6 and row.ipv6_address:
            out.append(("ipv6", row.ipv6_address, port))
        if row.ipv4 and row.ipv4_address:
            out.append(("ipv4", row.ipv4_address, port))
    return out


def instance_dial(instance: Instance, internal_port: int) -> str | None:
    """Where a proxy reaches ``internal_port`` of the instance: its bridge address, or without
    one (host networking) the port published on loopback."""
    if instance.ip:
        return f"{instance.ip}:{internal_port}"
    published = json.loads(instance.ports_json).get(str(internal_port))
    return str(published) if published else None
