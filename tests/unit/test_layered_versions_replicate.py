"""Layered config versions between hosts: a layer only builds on a version its own host wrote,
so any host that holds a layer holds its whole chain (a peer holds every row of an origin up to
its high-water mark), whatever order rows from different origins arrive in."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import col, select

from platd.services import config, tenancy, tokens
from platd.store.db import Store
from platd.store.models import ConfigVersion
from platd.store.versions import flat_config
from tests.daemon_support import service_context
from tests.unit.store_support import make_store

TARGET = "o/p/a/e"


def _versions(store: Store) -> list[ConfigVersion]:
    with store.read() as session:
        return list(session.exec(select(ConfigVersion).order_by(col(ConfigVersion.version))))


def test_a_host_builds_layers_only_on_its_own_versions(tmp_path: Path) -> None:
    a, b, c = (make_store(tmp_path / n, f"host-{n}") for n in "abc")
    ctx_a, ctx_b = service_context(a), service_context(b)
    token = tokens.create_admin_token(a, ctx_a.clock)
    admin = tokens.principal_for(ctx_a, token)
    for kind, path in (("org", "o"), ("project", "o/p"), ("app", "o/p/a"), ("env", TARGET)):
        tenancy.create(ctx_a, admin, kind, path)
    big = {f"K{i}": "v" * 1000 for i in range(50)}
    config.change_config(ctx_a, admin, TARGET, big, [])
    config.change_config(ctx_a, admin, TARGET, {"SMALL": "1"}, [])
    b.apply_remote(a.rows_since("host-a", 0))
    config.change_config(ctx_b, admin, TARGET, {"SMALL": "2"}, [])
    config.change_config(ctx_b, admin, TARGET, {"OTHER": "3"}, [])

    chain = _versions(b)
    assert [v.origin[-1] for v in chain] == ["a", "a", "b", "b"]
    assert chain[1].base_id == chain[0].id  # a's layer on a's snapshot
    assert chain[2].base_id is None  # b does not build on a's version: a whole copy
    assert chain[3].base_id == chain[2].id

    # A host that has only b's rows (a's have not reached it) reads b's newest version whole.
    c.apply_remote(b.rows_since("host-b", 0))
    with c.read() as session:
        newest = session.get(ConfigVersion, chain[3].id)
        flat = flat_config(session, newest)
    assert flat is not None
    assert flat.values == big | {"SMALL": "2", "OTHER": "3"}
