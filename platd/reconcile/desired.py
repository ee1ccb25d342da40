"""Desired state as the reconciler needs it: every workload this host should run, fully resolved.

This is the one place that turns rows (env pointer, release, scale, config version, secret
versions, release progress) into ``DesiredWorkload`` values for the pure planner, and that opens
the secret versions a release pinned when an instance needs its files.
"""

from __future__ import annotations

import dataclasses
import json
import os
from functools import lru_cache

from sqlmodel import Session, col, select

from platd.reconcile.model import DesiredWorkload, VolumeBinding
from platd.secrets.crypto import SecretBox
from platd.spec.assign import count_here, surplus_to_keep
from platd.spec.errors import NotFound
from platd.spec.manifest import Manifest
from platd.store.db import Store
from platd.store.models import (
    Assignment,
    ConfigVersion,
    Env,
    Host,
    Instance,
    Release,
    ReleaseState,
    Scale,
    SecretVersion,
    Volume,
)
from platd.store.queries import live_envs, spec_hash
from platd.store.versions import flat_config, flat_secret
from platd.volumes.backend import mount_source


@lru_cache(maxsize=4096)
def _release_content(
    release_id: str, manifest_json: str, images_json: str
) -> tuple[Manifest, dict[str, str]]:
    """Releases are immutable, so each one's manifest is parsed once per process."""
    return Manifest.from_dict(json.loads(manifest_json)), json.loads(images_json)


def live_env_ids(store: Store) -> tuple[set[str], set[str]]:
    """Every live env's id, and those of the live envs that were never deployed to (no
    current release): what a host of its own prepares for (``Reconciler``)."""
    with store.read() as session:
        envs = [e.env for e in live_envs(session)]
    return {e.id for e in envs}, {e.id for e in envs if not e.current_release_id}


def load_desired(store: Store) -> tuple[list[DesiredWorkload], dict[str, str]]:
    """Every desired workload on this host, and each current release's status here.

    A handful of queries whatever the number of envs: this runs on every reconcile pass.
    """
    desired: list[DesiredWorkload] = []
    with store.read() as session:
        envs = [(e.env, e.path) for e in live_envs(session) if e.env.current_release_id]
        ids = [e.current_release_id for e, _ in envs]
        by_id = {r.id: r for r in session.exec(select(Release).where(col(Release.id).in_(ids)))}
        config_ids = [r.config_version_id for r in by_id.values() if r.config_version_id]
        configs: dict[str, dict[str, str]] = {}
        for c in session.exec(select(ConfigVersion).where(col(ConfigVersion.id).in_(config_ids))):
            flat = flat_config(session, c)
            if flat is not None:  # a layer whose base has not arrived reads as not here yet
                configs[c.id] = flat.values
        scales: dict[str, dict[str, Scale]] = {}
        for s in session.exec(select(Scale).where(Scale.deleted == False)):  # noqa: E712
            scales.setdefault(s.env_id, {})[s.workload] = s
        generation = {e.current_release_id: e.current_change_id for e, _ in envs}
        states = {
            s.release_id: s
            for s in session.exec(select(ReleaseState).where(ReleaseState.host_id == store.host_id))
            # A verdict on an earlier rollout of the release (before a rollback or retry to it)
            # no longer holds.
            if s.release_id not in generation or s.change_id == generation[s.release_id]
        }
        volumes: dict[str, dict[str, Volume]] = {}
        for v in session.exec(select(Volume).where(Volume.deleted == False)):  # noqa: E712
            volumes.setdefault(v.env_id, {})[v.name] = v
        for env, path in envs:
            release = by_id.get(env.current_release_id or "")
            if release is None:
                continue
            values = configs.get(release.config_version_id or "", {})
            desired += _workloads_of(
                env,
                path,
                release,
                states.get(release.id),
                values,
                scales.get(env.id, {}),
                _bindings(store, path, release, volumes.get(env.id, {})),
            )
        desired = _assigned_here(session, store.host_id, desired)
    status = {release_id: state.status for release_id, state in states.items()}
    return desired, status


def _assigned_here(
    session: Session, host_id: str, desired: list[DesiredWorkload]
) -> list[DesiredWorkload]:
    """In a cluster, each workload's count on this host: the slots placement gave it, plus the
    surplus it keeps while their replacements elsewhere are not healthy yet.

    A host of its own (no assignments, no other hosts) runs every instance, as it always did.
    A workload with no assignment row on a cluster member runs nowhere here until its row
    arrives: a host never guesses, so a release seen before its placement starts nothing.
    """
    rows = {(r.env_id, r.workload): r for r in session.exec(
        select(Assignment).where(Assignment.deleted == False))}  # noqa: E712
    if not rows:
        others = session.exec(select(Host.id).where(Host.deleted == False,  # noqa: E712
                                                     Host.id != host_id)).first()
        if others is None:
            return desired
    env_ids = {d.env_id for d in desired}
    instances = [i for i in session.exec(select(Instance).where(
        col(Instance.env_id).in_(env_ids), Instance.deleted == False))  # noqa: E712
        if i.state == "running"]
    out = []
    for d in desired:
        row = rows.get(d.key)
        hosts: list[str] = json.loads(row.hosts_json) if row else []
        here = count_here(hosts, host_id)
        mine = [i for i in instances if i.env_id == d.env_id and i.workload == d.workload
                and i.spec_hash == d.spec_hash]
        healthy: dict[str, int] = {}
        for i in mine:
            if i.host_id != host_id and i.health == "healthy":
                healthy[i.host_id] = healthy.get(i.host_id, 0) + 1
        elsewhere = {h: count_here(hosts, h) for h in set(hosts) if h and h != host_id}
        keep = surplus_to_keep(
            assigned_here=here,
            running_here=sum(1 for i in mine if i.host_id == host_id),
            assigned_elsewhere=sum(elsewhere.values()),
            healthy_elsewhere=sum(min(healthy.get(h, 0), n) for h, n in elsewhere.items()),
        )
        out.append(dataclasses.replace(d, count=here + keep, surplus=keep))
    return out


def _bindings(
    store: Store, path: str, release: Release, volumes: dict[str, Volume]
) -> dict[str, tuple[VolumeBinding, ...]]:
    """Per workload, the volumes it mounts: the host path, or why it cannot be mounted now."""
    manifest, _images = _release_content(release.id, release.manifest_json, release.images_json)
    out: dict[str, list[VolumeBinding]] = {}
    for m in manifest.volumes:
        v = volumes.get(m.name)
        source, problem = "", None
        if v is None:
            problem = (
                f"volume {m.name} does not exist in {path}: "
                f"plat volumes create {m.name} --size 1G --target {path}"
            )
        elif v.host_id != store.host_id:
            problem = (
                f"volume {m.name} lives on host {v.host_id[-12:]}; instances that mount "
                "it run there"
            )
        else:
            source = str(mount_source(store.path.parent, v.id))
            if not os.path.isdir(source):
                problem = (
                    f"volume {m.name} is not mounted on this host (platd mounts it at "
                    "start; see plat events)"
                )
        out.setdefault(m.workload, []).append(
            VolumeBinding(m.name, source, m.mount, m.read_only, problem)
        )
    return {workload: tuple(b) for workload, b in out.items()}


def _workloads_of(
    env: Env,
    path: str,
    release: Release,
    state: ReleaseState | None,
    values: dict[str, str],
    scales: dict[str, Scale],
    bindings: dict[str, tuple[VolumeBinding, ...]] | None = None,
) -> list[DesiredWorkload]:
    manifest, images = _release_content(release.id, release.manifest_json, release.images_json)
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
            "PLAT_ORG": org,
            "PLAT_PROJECT": project,
            "PLAT_APP": app,
            "PLAT_ENV": env_name,
            "PLAT_WORKLOAD": name,
            "PLAT_RELEASE": f"v{release.seq}",
        }
        out.append(
            DesiredWorkload(
                env_id=env.id,
                env_path=path,
                workload=name,
                release_id=release.id,
                release_seq=release.seq,
                spec_hash=spec_hash(release.id, name, cpu, memory),
                count=count,
                image=images[name],
                cpu=cpu,
                memory=memory,
                health=w.health,
                command=w.command,
                env=env_vars,
                secret_versions=secret_versions,
                publish=tuple(sorted(ports)),
                release_failed=state is not None and state.status == "failed",
                release_converged=state is not None and state.status in ("converged", "degraded"),
                release_degraded=state is not None and state.status == "degraded",
                converged_at=(state.updated_at if state is not None
                              and state.status == "converged" else None),
                min_ready=w.ready_after,
                volumes=(bindings or {}).get(name, ()),
            )
        )
    return out


def release_secret_versions(store: Store, release_id: str) -> dict[str, str]:
    """The secret versions a release pinned (bundle name -> version id)."""
    with store.read() as session:
        release = session.get(Release, release_id)
        versions: dict[str, str] = json.loads(release.secret_versions_json) if release else {}
        return versions


def open_secret_version(store: Store, box: SecretBox, version_id: str) -> dict[str, str]:
    """Decrypt one pinned secret version, for delivery into an instance."""
    with store.read() as session:
        version = session.get(SecretVersion, version_id)
        if version is None:
            raise NotFound(f"secret version {version_id} is missing from this host")
        flat = flat_secret(session, box.open, version)
        if flat is None:
            raise NotFound(f"secret version {version_id} is not complete on this host yet "
                           "(a version it builds on has not arrived from its peers)")
        return flat.values
