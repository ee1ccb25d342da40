"""Env configuration (plain env vars) and secret bundles, both versioned and insert-only.

Every change writes a new version rather than editing the last one, so a release can pin the exact
version it was created with and a rollback restores exactly that. Secret values are sealed before
they reach the database and never leave this module except into an instance's secret file.

Each change records a ``config`` or ``secret`` event in the transaction that writes it. Events name
keys, never values: config values can be as sensitive as secrets.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session, col, select

from platd.auth.tokens import Principal
from platd.secrets.crypto import SecretBox
from platd.services import tenancy
from platd.services.context import ServiceContext
from platd.spec.errors import Conflict, InvalidInput, NotFound
from platd.spec.ids import uuid7
from platd.spec.layers import Flattened, next_layer, size_of
from platd.spec.limits import over_limit
from platd.spec.names import check_env_key, check_name
from platd.store import eventlog
from platd.store.models import ConfigVersion, SecretBundle, SecretVersion
from platd.store.versions import flat_config, flat_secret

MAX_VALUE_BYTES = 64 * 1024
MAX_KEYS = 500


def current_config(session: Session, env_id: str) -> ConfigVersion | None:
    return session.exec(
        select(ConfigVersion)
        .where(ConfigVersion.env_id == env_id)
        .order_by(col(ConfigVersion.version).desc())
    ).first()


def config_values(session: Session, version: ConfigVersion | None) -> dict[str, str]:
    """The whole set of ``version``; refuses while part of its chain has not arrived."""
    flat = flat_config(session, version)
    if flat is None:
        raise Conflict(
            "this host has not yet received every config version from its peers",
            hint="try again in a few seconds; `plat status` shows whether peers are reachable",
        )
    return dict(flat.values)


def _check_values(values: dict[str, str]) -> None:
    if len(values) > MAX_KEYS:
        raise InvalidInput(
            f"too many keys ({len(values)}); the limit is {MAX_KEYS}",
            hint=f"pass at most {MAX_KEYS} keys at a time",
        )
    for key, value in values.items():
        check_env_key(key)
        if not isinstance(value, str):
            raise InvalidInput(f"the value of {key} must be a string")
        if len(value.encode()) > MAX_VALUE_BYTES:
            raise InvalidInput(
                f"the value of {key} is larger than {MAX_VALUE_BYTES} bytes",
                hint="keep values small; put large files in a volume or the image",
            )
        if "\x00" in value:
            raise InvalidInput(
                f"the value of {key} contains a NUL byte",
                hint="values are text: remove the NUL byte or base64-encode it",
            )


def _describe_config(
    session: Session, ref: tenancy.EnvRef, version: ConfigVersion | None
) -> dict[str, Any]:
    return {
        "target": ref.path,
        "version": version.version if version else 0,
        "values": config_values(session, version),
        "created_at": version.created_at if version else None,
        "created_by": version.created_by if version else None,
    }


def change_config(
    ctx: ServiceContext,
    principal: Principal,
    target: str,
    set_values: dict[str, str],
    unset: list[str],
) -> dict[str, Any]:
    """Write a new config version with ``set_values`` applied and ``unset`` removed."""
    _check_values(set_values)
    for key in unset:
        check_env_key(key)
    with ctx.store.write() as session:
        ref = tenancy.resolve_env(session, principal, target)
        principal.require(ref.org.id, "deployer")
        previous = current_config(session, ref.env.id)
        old = config_values(session, previous)
        missing = [k for k in unset if k not in old]
        if missing:
            raise NotFound(
                f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                f"not set in {ref.path}",
                hint=f"see what is set with: plat config list --target {ref.path}",
            )
        new = {k: v for k, v in old.items() if k not in unset} | set_values
        added = sorted(set(new) - set(old))
        changed = sorted(k for k in set(new) & set(old) if new[k] != old[k])
        removed = sorted(set(old) - set(new))
        if not (added or changed or removed):
            return {
                **_describe_config(session, ref, previous),
                "added": [],
                "changed": [],
                "removed": [],
                "unchanged": True,
            }
        size = size_of(new)
        if size > size_of(old):
            ctx.require_room(f"the config change of {ref.path}")
        if size > ctx.limits.env_config_max_bytes and size > size_of(old):
            raise over_limit("the config", ref.path, size, ctx.limits.env_config_max_bytes,
                             "env_config_max_bytes")
        # A layer only builds on a version this host wrote: a peer that has the layer then has
        # its base too (it holds every row of an origin up to its high-water mark).
        mine = previous is not None and previous.origin == ctx.store.host_id
        flat = flat_config(session, previous) if mine else None
        layer = next_layer(flat, new)
        version = ConfigVersion(
            id=uuid7(),
            env_id=ref.env.id,
            version=(previous.version if previous else 0) + 1,
            values_json=json.dumps(dict(layer.values), sort_keys=True),
            unset_json=json.dumps(list(layer.unset)),
            base_id=None if layer.snapshot or not mine or previous is None else previous.id,
            created_at=ctx.clock.time(),
            created_by=principal.name,
        )
        session.add(version)
        parts = [
            f"{verb} {', '.join(keys)}"
            for verb, keys in (("added", added), ("changed", changed), ("removed", removed))
            if keys
        ]
        eventlog.record(
            session, ctx.clock, env_id=ref.env.id, step="config", outcome="ok",
            actor=principal.name,
            message=f"{principal.name} changed config (version {version.version}): "
            + ", ".join(parts),
        )
    return {
        "target": ref.path,
        "version": version.version,
        "added": added,
        "changed": changed,
        "removed": removed,
        "unchanged": False,
    }


def list_config(ctx: ServiceContext, principal: Principal, target: str) -> dict[str, Any]:
    with ctx.store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        return _describe_config(session, ref, current_config(session, ref.env.id))


# --- secret bundles -------------------------------------------------------------------------


def live_bundles(session: Session, env_id: str) -> list[SecretBundle]:
    return list(
        session.exec(
            select(SecretBundle)
            .where(SecretBundle.env_id == env_id, SecretBundle.deleted == False)  # noqa: E712
            .order_by(col(SecretBundle.name))
        ).all()
    )


def bundle_versions(session: Session, bundle_id: str) -> list[SecretVersion]:
    return list(
        session.exec(
            select(SecretVersion)
            .where(SecretVersion.bundle_id == bundle_id)
            .order_by(col(SecretVersion.version))
        ).all()
    )


def _find_bundle(session: Session, ref: tenancy.EnvRef, name: str) -> SecretBundle:
    bundles = live_bundles(session, ref.env.id)
    match = next((b for b in bundles if b.name == name), None)
    if match is None:
        raise NotFound(
            f"no secret bundle {name!r} in {ref.path} (bundles there: "
            f"{', '.join(b.name for b in bundles) or 'none'})",
            hint=f"create it with: plat secrets create {name} --set KEY=... --target {ref.path}",
        )
    return match


def _describe_bundle(
    ref: tenancy.EnvRef, bundle: SecretBundle, versions: list[SecretVersion]
) -> dict[str, Any]:
    return {
        "target": ref.path,
        "name": bundle.name,
        "id": bundle.id,
        "file": f"/run/secrets/{bundle.name}",
        "version": versions[-1].version if versions else 0,
        "keys": json.loads(versions[-1].keys_json) if versions else [],
        "versions": [
            {
                "version": v.version,
                "id": v.id,
                "keys": json.loads(v.keys_json),
                "created_at": v.created_at,
                "created_by": v.created_by,
            }
            for v in versions
        ],
    }


def _seal_version(
    ctx: ServiceContext,
    bundle_id: str,
    previous: tuple[SecretVersion, Flattened] | None,
    values: dict[str, str],
    by: str,
) -> SecretVersion:
    """The next version of a bundle holding ``values``: only what changed is sealed, on top
    of a version this host wrote (so a peer holding it holds its base: see change_config)."""
    clock, box = ctx.clock, ctx.box
    version_id = uuid7()
    mine = previous is not None and previous[0].origin == ctx.store.host_id
    layer = next_layer(previous[1] if previous and mine else None, values)
    return SecretVersion(
        id=version_id,
        bundle_id=bundle_id,
        version=previous[0].version + 1 if previous else 1,
        ciphertext=box.seal(dict(layer.values), bound_to=version_id),
        keys_json=json.dumps(sorted(values)),
        created_at=clock.time(),
        created_by=by,
        base_id=None if layer.snapshot or previous is None or not mine else previous[0].id,
    )


def secret_values(session: Session, box: SecretBox, version: SecretVersion) -> Flattened:
    """The whole set of a secret version; refuses while part of its chain has not arrived."""
    flat = flat_secret(session, box.open, version)
    if flat is None:
        raise Conflict(
            f"this host has not yet received every version of secret bundle version "
            f"{version.version} from its peers",
            hint="try again in a few seconds; `plat status` shows whether peers are reachable",
        )
    return flat


def _env_secret_bytes(
    session: Session, box: SecretBox, env_id: str, leave_out: str
) -> int:
    """Bytes held by the env's other live bundles (their newest versions)."""
    total = 0
    for bundle in live_bundles(session, env_id):
        if bundle.id == leave_out:
            continue
        history = bundle_versions(session, bundle.id)
        if history:
            total += size_of(secret_values(session, box, history[-1]).values)
    return total


def write_bundle(
    ctx: ServiceContext,
    principal: Principal,
    target: str,
    name: str,
    values: dict[str, str],
    *,
    create: bool,
) -> dict[str, Any]:
    """Create a bundle (``create``) or add a version to an existing one, merging keys."""
    check_name("secret bundle", name)
    if not values:
        raise InvalidInput(
            "a secret bundle needs at least one KEY=value",
            hint="pass --set KEY=value or --from-file FILE.env",
        )
    _check_values(values)
    box = ctx.box
    with ctx.store.write() as session:
        ref = tenancy.resolve_env(session, principal, target)
        principal.require(ref.org.id, "deployer")
        ctx.require_room(f"the change to secret bundle {name} of {ref.path}")
        existing = next((b for b in live_bundles(session, ref.env.id) if b.name == name), None)
        if create and existing is not None:
            raise Conflict(
                f"secret bundle {name!r} already exists in {ref.path}",
                hint=f"add a new version with: plat secrets update {name} --set KEY=... "
                f"--target {ref.path}",
            )
        if existing is None:
            if not create:
                _find_bundle(session, ref, name)  # raises NotFound with the names there
            existing = SecretBundle(
                id=uuid7(), env_id=ref.env.id, name=name, created_at=ctx.clock.time()
            )
            session.add(existing)
            history: list[SecretVersion] = []
            previous = None
            merged = values
        else:
            history = bundle_versions(session, existing.id)
            previous = (history[-1], secret_values(session, box, history[-1]))
            merged = {**previous[1].values, **values}
        size = size_of(merged) + _env_secret_bytes(session, box, ref.env.id, existing.id)
        if size > ctx.limits.env_secrets_max_bytes:
            raise over_limit("the secret bundles", ref.path, size,
                             ctx.limits.env_secrets_max_bytes, "env_secrets_max_bytes")
        version = _seal_version(ctx, existing.id, previous, merged, principal.name)
        session.add(version)
        if history:
            what = (f"updated secret bundle {name} (version {version.version}): set keys "
                    f"{', '.join(sorted(values))}; it holds {', '.join(sorted(merged))}")
        else:
            what = (f"created secret bundle {name} (version {version.version}): keys "
                    f"{', '.join(sorted(values))}")
        eventlog.record(
            session, ctx.clock, env_id=ref.env.id, step="secret", outcome="ok",
            actor=principal.name, message=f"{principal.name} {what}",
        )
        return _describe_bundle(ref, existing, [*history, version])


def list_bundles(ctx: ServiceContext, principal: Principal, target: str) -> list[dict[str, Any]]:
    with ctx.store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        return [
            _describe_bundle(ref, b, bundle_versions(session, b.id))
            for b in live_bundles(session, ref.env.id)
        ]


def describe_bundle(
    ctx: ServiceContext, principal: Principal, target: str, name: str
) -> dict[str, Any]:
    with ctx.store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        bundle = _find_bundle(session, ref, name)
        return _describe_bundle(ref, bundle, bundle_versions(session, bundle.id))


def delete_bundle(
    ctx: ServiceContext, principal: Principal, target: str, name: str
) -> dict[str, Any]:
    with ctx.store.write() as session:
        ref = tenancy.resolve_env(session, principal, target)
        principal.require(ref.org.id, "deployer")
        bundle = _find_bundle(session, ref, name)
        bundle.deleted = True
        session.add(bundle)
        versions = bundle_versions(session, bundle.id)
        eventlog.record(
            session, ctx.clock, env_id=ref.env.id, step="secret", outcome="ok",
            actor=principal.name,
            message=f"{principal.name} deleted secret bundle {name} (at version "
            f"{versions[-1].version if versions else 0})",
        )
        return _describe_bundle(ref, bundle, versions)

