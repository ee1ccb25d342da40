"""Desired state as the reconciler needs it: every workload this host should run, fully resolved.

This is the one place that turns rows (env pointer, release, scale, config version, secret
versions, release progress) into ``DesiredWorkload`` values for the pure planner.
"""

from __future__ import annotations

import hashlib
import json

from sqlmodel import Session, select

from platd.reconcile.model import DesiredWorkload
from platd.services import config as config_service
from platd.services.releases import manifest_of
from platd.store.db import Store
from platd.store.models import App, ConfigVersion, Env, Org, Project, Release, ReleaseState, Scale


def spec_hash(release_id: str, workload: str, cpu: float, memory: int) -> str:
    """Instances are replaced exactly when this changes (not on a count change)."""
    raw = json.dumps([release_id, workload, cpu, memory])
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _live_envs(session: Session) -> list[tuple[Env, str]]:
    """(env, "org/project/app/env") for every env whose whole path is live."""
    orgs = {o.id: o for o in session.exec(select(Org).where(Org.deleted == False))}  # noqa: E712
    projects = {p.id: p for p in session.exec(select(Project).where(Project.deleted == False))}  # noqa: E712
    apps = {a.id: a for a in session.exec(select(App).where(App.deleted == False))}  # noqa: E712
    out = []
    for env in session.exec(select(Env).where(Env.deleted == False)):  # noqa: E712
        app = apps.get(env.app_id)
        project = projects.get(app.project_id) if app else None
        org = orgs.get(project.org_id) if project else None
        if app and project and org:
            out.append((env, f"{org.name}/{project.name}/{app.name}/{env.name}"))
    return out


def load_desired(store: Store) -> tuple[list[DesiredWorkload], dict[str, str]]:
    """Every desired workload on this host, and each current release's status here."""
    desired: list[DesiredWorkload] = []
    status: dict[str, str] = {}
    with store.read() as session:
        for env, path in _live_envs(session):
            if env.current_release_id is None:
                continue
            release = session.get(Release, env.current_release_id)
            if release is None:
                continue
            state = session.get(ReleaseState, f"{release.id}:{store.host_id}")
            if state is not None:
                status[release.id] = state.status
            desired += _workloads_of(session, env, path, release, state)
    return desired, status


def _workloads_of(
    session: Session, env: Env, path: str, release: Release, state: ReleaseState | None
) -> list[DesiredWorkload]:
    manifest = manifest_of(release)
    images = json.loads(release.images_json)
    config = session.get(ConfigVersion, release.config_version_id) if release.config_version_id else None
    values = config_service.config_values(config)
    scales = {
        s.workload: s
        for s in session.exec(
            select(Scale).where(Scale.env_id == env.id, Scale.deleted == False)  # noqa: E712
        )
    }
    secret_versions = json.loads(release.secret_versions_json)
    org, project, app, env_name = path.split("/")
    out = []
    for name, w in manifest.workloads.items():
        scale = scales.get(name)
        count = scale.count if scale and scale.count is not None else w.count
        cpu = scale.cpu if scale and scale.cpu is not None else w.cpu
        memory = scale.memory if scale and scale.memory is not None else w.memory
        ports = set(w.ports)
        if w.health and w.health.port:
            ports.add(w.health.port)
        ports |= {e.internal_port for e in manifest.endpoints if e.workload == name}
        env_vars = {
            **values,
            "PLAT_ORG": org, "PLAT_PROJECT": project, "PLAT_APP": app, "PLAT_ENV": env_name,
            "PLAT_WORKLOAD": name, "PLAT_RELEASE": f"v{release.seq}",
        }
        out.append(DesiredWorkload(
            env_id=env.id, env_path=path, workload=name, release_id=release.id,
            release_seq=release.seq, spec_hash=spec_hash(release.id, name, cpu, memory),
            count=count, image=images[name], cpu=cpu, memory=memory, health=w.health,
            command=w.command, env=env_vars, secret_versions=secret_versions,
            publish=tuple(sorted(ports)),
            release_failed=state is not None and state.status == "failed",
            release_converged=state is not None and state.status == "converged",
        ))
    return out
