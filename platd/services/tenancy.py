"""Orgs, projects, apps and envs: the tree every other resource hangs from.

The four levels share one shape (a name unique among live siblings, a parent, a tombstone on
delete), so they share one implementation driven by ``LEVELS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, SQLModel, col, select

from platd.auth.tokens import Principal
from platd.services.context import ServiceContext
from platd.spec.errors import Conflict, InvalidInput, NotFound
from platd.spec.ids import uuid7
from platd.spec.names import check_name
from platd.store.models import App, Env, Org, Project
from platd.store.queries import live_path, live_volumes


@dataclass(frozen=True)
class Level:
    kind: str
    plural: str
    model: type[SQLModel]
    parent_field: str | None
    create_role: str


LEVELS = (
    Level("org", "orgs", Org, None, "admin"),
    Level("project", "projects", Project, "org_id", "owner"),
    Level("app", "apps", App, "project_id", "owner"),
    Level("env", "envs", Env, "app_id", "owner"),
)
LEVEL_BY_KIND = {level.kind: level for level in LEVELS}
LEVEL_BY_PLURAL = {level.plural: level for level in LEVELS}


def _level(kind: str) -> Level:
    """The level a kind names, in the singular ("env", as code says it) or the plural ("envs",
    as routes and commands do)."""
    level = LEVEL_BY_KIND.get(kind) or LEVEL_BY_PLURAL.get(kind)
    if level is None:
        raise NotFound(f"unknown resource kind {kind!r}",
                       hint=f"use one of {', '.join(LEVEL_BY_PLURAL)}")
    return level


@dataclass(frozen=True)
class EnvRef:
    """A resolved org/project/app/env, as rows."""

    org: Org
    project: Project
    app: App
    env: Env

    @property
    def path(self) -> str:
        return f"{self.org.name}/{self.project.name}/{self.app.name}/{self.env.name}"


def _children_statement(level: Level) -> Any:
    model: Any = level.model
    query = select(model).where(model.deleted == False)  # noqa: E712
    if level.parent_field is not None:
        query = query.where(getattr(model, level.parent_field) == bindparam("parent_id"))
    return query.order_by(col(model.name))


# Built once: `plat envs list` and every walk of the tree run them (see queries.live_path).
_CHILDREN = {level.kind: _children_statement(level) for level in LEVELS}


def _children(session: Session, level: Level, parent_id: str | None) -> list[Any]:
    params = {"parent_id": parent_id} if level.parent_field is not None else None
    return list(session.exec(_CHILDREN[level.kind], params=params).all())


def resolve(session: Session, principal: Principal, names: list[str]) -> list[Any]:
    """Walk the tree from the org down ``names``; NotFound names what does exist."""
    if names:
        # Every request that names an env comes here: one join finds the rows when they all
        # exist and the org is the principal's to see; the walk below is for saying what is
        # missing.
        found = live_path(session, names)
        if found is not None and principal.can_see(found[0].id):
            return list(found)
    rows: list[Any] = []
    parent_id: str | None = None
    for level, name in zip(LEVELS, names, strict=False):
        siblings = _children(session, level, parent_id)
        if level.kind == "org":
            siblings = [s for s in siblings if principal.can_see(s.id)]
        match = next((s for s in siblings if s.name == name), None)
        if match is None:
            where = "/".join(names[: len(rows)])
            have = ", ".join(s.name for s in siblings) or "none"
            create = " ".join(
                ["plat", level.plural, "create", "/".join([*names[: len(rows)], name])]
            )
            raise NotFound(
                f"no {level.kind} {name!r}"
                + (f" in {where}" if where else "")
                + f" ({level.plural} there: {have})",
                hint=f"create it with: {create}",
                details={"kind": level.kind, "name": name, "existing": [s.name for s in siblings]},
            )
        rows.append(match)
        parent_id = match.id
    return rows


def resolve_env(session: Session, principal: Principal, path: str) -> EnvRef:
    names = split_path(path, 4)
    org, project, app, env = resolve(session, principal, names)
    return EnvRef(org, project, app, env)


def split_path(path: str, depth: int) -> list[str]:
    names = [n for n in path.strip("/").split("/") if n]
    kinds = "/".join(level.kind.upper() for level in LEVELS[:depth])
    if len(names) != depth:
        raise InvalidInput(
            f"{path!r} is not a {LEVELS[depth - 1].kind} path: expected {kinds}",
            hint="set a default with `plat use ORG/PROJECT/APP/ENV` or pass --target",
        )
    for level, name in zip(LEVELS[:depth], names, strict=True):
        check_name(level.kind, name)
    return names


def describe_row(level: Level, row: Any, path: str) -> dict[str, Any]:
    out = {
        "kind": level.kind,
        "id": row.id,
        "name": row.name,
        "path": path,
        "created_at": row.created_at,
    }
    if level.kind == "env":
        out["current_release_id"] = row.current_release_id
    return out


def create(ctx: ServiceContext, principal: Principal, kind: str, path: str) -> dict[str, Any]:
    level = _level(kind)
    depth = LEVELS.index(level) + 1
    names = split_path(path, depth)
    with ctx.store.write() as session:
        parents = resolve(session, principal, names[:-1])
        org_id = parents[0].id if parents else None
        principal.require(org_id, "owner" if level.create_role == "admin" else level.create_role)
        parent_id = parents[-1].id if parents else None
        if any(s.name == names[-1] for s in _children(session, level, parent_id)):
            raise Conflict(
                f"{level.kind} {'/'.join(names)} already exists",
                hint=f"list them with: plat {level.plural} list"
                + (f" {'/'.join(names[:-1])}" if parents else ""),
            )
        ctx.require_room(f"creating {level.kind} {'/'.join(names)}")
        fields: dict[str, Any] = {
            "id": uuid7(),
            "name": names[-1],
            "created_at": ctx.clock.time(),
        }
        if level.parent_field:
            fields[level.parent_field] = parent_id
        row = level.model(**fields)
        session.add(row)
    return describe_row(level, row, "/".join(names))


def list_children(
    ctx: ServiceContext, principal: Principal, kind: str, parent_path: str
) -> list[dict[str, Any]]:
    level = _level(kind)
    depth = LEVELS.index(level)
    names = split_path(parent_path, depth) if depth else []
    with ctx.store.read() as session:
        parents = resolve(session, principal, names)
        parent_id = parents[-1].id if parents else None
        rows = _children(session, level, parent_id)
        if level.kind == "org":
            rows = [r for r in rows if principal.can_see(r.id)]
        return [describe_row(level, r, "/".join([*names, r.name])) for r in rows]


def _refuse_env_with_volumes(session: Session, env_id: str, path: str) -> None:
    """An env's volumes hold data and disk space: they are deleted on purpose, not with the env."""
    volumes = live_volumes(session, env_id)
    if volumes:
        raise Conflict(
            f"env {path} still has volumes: {', '.join(v.name for v in volumes)}",
            hint=f"delete them first (their data and snapshots go with them): "
            f"plat volumes delete NAME --target {path}",
        )


def delete(ctx: ServiceContext, principal: Principal, kind: str, path: str) -> dict[str, Any]:
    level = _level(kind)
    depth = LEVELS.index(level) + 1
    names = split_path(path, depth)
    path = "/".join(names)  # the route hands over "/org/project": show it as users write it
    with ctx.store.write() as session:
        rows = resolve(session, principal, names)
        principal.require(rows[0].id, "owner")
        row = rows[-1]
        if depth < len(LEVELS):
            child_level = LEVELS[depth]
            children = _children(session, child_level, row.id)
            if children:
                raise Conflict(
                    f"{level.kind} {path} still has {child_level.plural}: "
                    + ", ".join(c.name for c in children),
                    hint=f"delete them first: plat {child_level.plural} delete {path}/NAME",
                )
        else:
            _refuse_env_with_volumes(session, row.id, path)
        row.deleted = True
        session.add(row)
    return describe_row(level, row, path)
