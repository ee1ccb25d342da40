"""The campaign's writes, through the service functions the API calls (``tenancy``, ``releases``,
``status.scale``, ``events``), so they are refused the same way the API would refuse them.

Each store gets one service context whose clock is the store's own skewed clock, so events
carry the same skew as the rows. The deterministic reproductions in ``test_campaign`` call
``seed_tree``, ``deploy`` and ``scale`` directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import select

from platd.auth.tokens import Principal
from platd.services import releases, rollback, status, tenancy
from platd.spec.errors import PlatError
from platd.store import eventlog
from platd.store.db import Store
from platd.store.models import Org, Release
from tests.daemon_support import service_context

ADMIN = Principal(token_id="campaign", name="campaign", org_id=None, org_name=None, role="owner")
APP = "base/p/web"
BASE_ENVS = ("prod", "staging")
MANIFEST = ('app = "web"\n[workloads.web]\nimage = "127.0.0.1:5000/hello:v1"\ncount = 1\n'
            'min_ready = "1s"\n')

_contexts: dict[int, Any] = {}


def _svc(store: Store) -> Any:
    """One service context per store (the use cases take one, as the API passes them)."""
    if id(store) not in _contexts:
        _contexts[id(store)] = service_context(store, clock=_StoreClock(store))
    return _contexts[id(store)]


def forget(store: Store) -> None:
    """Drop ``store``'s service context: the cache would keep every schedule's stores alive."""
    _contexts.pop(id(store), None)


class _StoreClock:
    """The store's skewed wall clock as the services' clock, so events carry the same skew."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def time(self) -> float:
        return self._store.clock._now() / 1000.0


def _org_create(store: Store, name: str) -> None:
    tenancy.create(_svc(store), ADMIN, "org", name)


def _org_delete(store: Store, name: str) -> None:
    tenancy.delete(_svc(store), ADMIN, "org", name)


def _org_rename(store: Store, old: str, new: str) -> None:
    with store.write() as session:
        live = {o.name: o for o in session.exec(select(Org).where(Org.deleted == False))}  # noqa: E712
        if old not in live:
            raise PlatError(f"no org {old}")
        if new in live:
            raise PlatError(f"org {new} already exists")
        org = live[old]
        org.name = new
        session.add(org)


def _env_create(store: Store, name: str) -> None:
    tenancy.create(_svc(store), ADMIN, "env", f"{APP}/{name}")


def _env_delete(store: Store, name: str) -> None:
    tenancy.delete(_svc(store), ADMIN, "env", f"{APP}/{name}")


def deploy(store: Store, env: str, digest_seed: int) -> None:
    plan = releases.prepare_deploy(_svc(store), ADMIN, f"{APP}/{env}", MANIFEST, {})
    image = f"127.0.0.1:5000/hello@sha256:{digest_seed:064x}"
    releases.commit_deploy(_svc(store), ADMIN, plan, dict.fromkeys(plan.refs, image), image,
                           force=True)  # every deploy writes a release, changed or not


def _rollback(store: Store, env: str, back: int) -> None:
    with store.read() as session:
        ref = tenancy.resolve_env(session, ADMIN, f"{APP}/{env}")
        rows = session.exec(select(Release).where(Release.env_id == ref.env.id)).all()
        older = sorted((r for r in rows if r.id != ref.env.current_release_id),
                       key=lambda r: (r.seq, r.id))
    if not older:
        raise PlatError("nothing to roll back to")
    chosen = older[-min(back, len(older))]
    rollback.rollback(_svc(store), ADMIN, f"{APP}/{env}", chosen.id)


def scale(store: Store, env: str, count: int) -> None:
    status.scale(_svc(store), ADMIN, f"{APP}/{env}", "web", count=count, minimum=None, maximum=None,
                 cpu=None, memory=None)


def _event(store: Store, env: str, n: int) -> None:
    with store.write() as session:
        ref = tenancy.resolve_env(session, ADMIN, f"{APP}/{env}")
        eventlog.record(session, _svc(store).clock, env_id=ref.env.id, step="note", outcome="info",
                      message=f"campaign note {n}", actor="campaign")


WRITE_OPS: dict[str, Callable[..., None]] = {
    "org_create": _org_create, "org_rename": _org_rename, "org_delete": _org_delete,
    "env_create": _env_create, "env_delete": _env_delete, "deploy": deploy,
    "rollback": _rollback, "scale": scale, "event": _event,
}


def seed_tree(store: Store) -> None:
    for kind, path in (("org", "base"), ("project", "base/p"), ("app", APP)):
        tenancy.create(_svc(store), ADMIN, kind, path)
    for env in BASE_ENVS:
        tenancy.create(_svc(store), ADMIN, "env", f"{APP}/{env}")
        deploy(store, env, 1)
