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
from typing import Any

from sqlalchemy import bindparam
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


# The live rows of a path of the tree (org, org/project, ... org/project/app/env), one join each,
# built once: a request names its env by path, and building the statement per request (or
# walking the tree level by level) cost more than running it.
_PATH_MODELS: tuple[Any, ...] = (Org, Project, App, Env)
_PATH_NAMES = ("org", "project", "app", "env")
_PATH_PARENTS = (None, Project.org_id, App.project_id, Env.app_id)


def _path_statement(depth: int) -> Any:
    models = _PATH_MODELS[:depth]
    query: Any = select(*models)
    for model, parent_field, above in zip(models[1:], _PATH_PARENTS[1:], models, strict=False):
        query = query.join(model, col(parent_field) == above.id)
    for model, name in zip(models, _PATH_NAMES, strict=False):
        query = query.where(model.name == bindparam(name), model.deleted == False)  # noqa: E712
    return query


_PATH_STATEMENTS = {depth: _path_statement(depth) for depth in range(1, 5)}


def live_path(session: Session, names: list[str]) -> tuple[Any, ...] | None:
    """The live rows (Org, Project, ...) that ``names`` name from the org down, or None when
    one of them does not exist (the caller walks the tree then, to say which)."""
    params = dict(zip(_PATH_NAMES, names, strict=False))
    row = session.exec(_PATH_STATEMENTS[len(names)], params=params).first()
    if row is None:
        return None
    return tuple(row) if len(names) > 1 else (row,)  # one entity comes back as itself


def sql_rows(session: Session, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """Plain SQL on the session's own connection (its transaction, its snapshot): rows with
    attribute access by column name. For hot reads whose answer is a few columns, where
    building the ORM statement and objects costs more than the query."""
    return list(session.connection().exec_driver_sql(sql, params).all())


def release_seqs(session: Session, env_id: str) -> dict[str, int]:
    """The sequence number (the N of vN) of each release of the env, by id."""
    return {r[0]: r[1] for r in sql_rows(session, "SELECT id, seq FROM releases WHERE env_id = ?",
                                         (env_id,))}


def host_names(session: Session) -> dict[str, str]:
    """The name of every host the cluster has known, by id."""
    return {r[0]: r[1] for r in sql_rows(session, "SELECT id, name FROM hosts")}


def release_states(session: Session, env_id: str,
                   release_id: str | None = None) -> dict[str, list[Any]]:
    """The verdicts (``release_states`` rows) of one release of the env, or of all of them,
    by release id, each list in the order they were written."""
    where = "release_id = ?" if release_id else \
        "release_id IN (SELECT id FROM releases WHERE env_id = ?)"
    out: dict[str, list[Any]] = {}
    for r in sql_rows(session, "SELECT release_id, status, change_id, step, category, message "
                      f"FROM release_states WHERE {where} ORDER BY rowid",
                      (release_id or env_id,)):
        out.setdefault(r.release_id, []).append(r)
    return out


@dataclass(frozen=True)
class RolloutMarks:
    """What a release's events say about its rollouts."""

    last_start: int | None  # seq of the event that started its latest rollout
    converged: bool  # whether any rollout of it ever converged


def rollout_marks(session: Session, env_id: str,
                  release_id: str | None = None) -> dict[str, RolloutMarks]:
    """``RolloutMarks`` of one release of the env, or of all that have events, by release id:
    one pass over their events (the ``release_id`` index)."""
    where = "release_id = ?" if release_id else \
        "release_id IN (SELECT id FROM releases WHERE env_id = ?)"
    rows = sql_rows(
        session,
        "SELECT release_id, "
        "MAX(CASE WHEN step IN ('deploy', 'rollback', 'retry') THEN seq END), "
        "MAX(step = 'rollout' AND outcome = 'ok') "
        f"FROM events WHERE {where} GROUP BY release_id", (release_id or env_id,))
    return {r[0]: RolloutMarks(r[1], bool(r[2])) for r in rows}


def config_version_numbers(session: Session, env_id: str,
                           release_id: str | None = None) -> dict[str, int]:
    """The number of the config version each release of the env (or only ``release_id``) was
    made with, by config version id."""
    where = "id = ?" if release_id else "env_id = ?"
    rows = sql_rows(session, "SELECT id, version FROM config_versions WHERE id IN "
                    f"(SELECT config_version_id FROM releases WHERE {where})",
                    (release_id or env_id,))
    return {r[0]: r[1] for r in rows}


def manifest_of(release: Release) -> Manifest:
    return Manifest.from_dict(json.loads(release.manifest_json))


def current_release(session: Session, env: Env) -> Release | None:
    return session.get(Release, env.current_release_id) if env.current_release_id else None


def spec_hash(release_id: str, workload: str, cpu: float, memory: int) -> str:
    """What ``instances.spec_hash`` holds: instances are replaced exactly when it changes (a
    new release or a cpu/memory change), not on a count change."""
    raw = json.dumps([release_id, workload, cpu, memory])
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


# The env's live rows of a kind, statements built once (``plat status`` reads them all on
# every request; see _PATH_STATEMENTS).
_ENV_ID: Any = bindparam("env_id")
_LIVE_SCALES = select(Scale).where(Scale.env_id == _ENV_ID, Scale.deleted == False)  # noqa: E712
_ENV_INSTANCES = (select(Instance)
                  .where(Instance.env_id == _ENV_ID, Instance.deleted == False)  # noqa: E712
                  .order_by(col(Instance.workload), col(Instance.started_at)))
_LIVE_VOLUMES = (select(Volume).where(Volume.env_id == _ENV_ID, Volume.deleted == False)  # noqa: E712
                 .order_by(col(Volume.name)))
_ALL_ENDPOINTS = select(EndpointRow).where(EndpointRow.deleted == False)  # noqa: E712
_ENV_ENDPOINTS = _ALL_ENDPOINTS.where(EndpointRow.env_id == _ENV_ID).order_by(
    col(EndpointRow.name))
_ALL_ENDPOINTS = _ALL_ENDPOINTS.order_by(col(EndpointRow.name))


def live_scales(session: Session, env_id: str) -> dict[str, Scale]:
    """The env's ``plat scale`` overrides, by workload."""
    rows = session.exec(_LIVE_SCALES, params={"env_id": env_id})
    return {s.workload: s for s in rows}


def env_instances(session: Session, env_id: str) -> list[Instance]:
    """The env's live instance rows (every host's), by workload and start."""
    return list(session.exec(_ENV_INSTANCES, params={"env_id": env_id}).all())


def live_volumes(session: Session, env_id: str) -> list[Volume]:
    return list(session.exec(_LIVE_VOLUMES, params={"env_id": env_id}).all())


def live_endpoints(session: Session, env_id: str | None = None) -> list[EndpointRow]:
    """Live endpoint rows of one env, or of every env, by name."""
    if env_id is None:
        return list(session.exec(_ALL_ENDPOINTS).all())
    return list(session.exec(_ENV_ENDPOINTS, params={"env_id": env_id}).all())


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
