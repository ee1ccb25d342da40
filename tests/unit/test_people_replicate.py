"""Users, memberships, invites and user tokens are desired state like any other: written on
one host, merged on another, they mean the same there (a user's token works with the same
roles; a used invite is used everywhere; a removal wins over an older role change)."""

from __future__ import annotations

from pathlib import Path

import pytest
from store_support import make_store

from platd.auth.passwords import verify_password
from platd.services import tokens
from platd.services.people import _set_membership, membership_id, user_id
from platd.spec.errors import Unauthenticated
from platd.spec.hlc import HybridLogicalClock
from platd.store.models import Invite, Membership, Org, User

PASSWORD = "correct horse battery"


class Clock:
    def time(self) -> float:
        return 1000.0

    def monotonic(self) -> float:
        return 0.0


def _sync(src, dst) -> None:  # type: ignore[no-untyped-def]
    for origin, _top in src.high_water().items():
        dst.apply_remote(src.rows_since(origin, 0))


def test_people_replicate_and_mean_the_same_on_the_other_host(tmp_path: Path) -> None:
    from platd.auth.passwords import hash_password

    a = make_store(tmp_path / "a", "host-a", HybridLogicalClock())
    b = make_store(tmp_path / "b", "host-b", HybridLogicalClock())
    with a.write() as s:
        s.add(Org(id="org-1", name="acme", created_at=1.0))
        s.add(User(id=user_id("alice"), name="alice", password_hash=hash_password(PASSWORD),
                   created_at=1.0, created_by="test"))
        _set_membership(s, 1.0, user_id("alice"), "org-1", "deployer", "test")
        s.add(Invite(id="inv-1", code_hash="h", kind="org", name="bob", org_id="org-1",
                     role="viewer", expires_at=2000.0, created_at=1.0, created_by="test",
                     deleted=True, used_by=user_id("bob")))
    with a.write() as s:
        alice = s.get(User, user_id("alice"))
        assert alice is not None
        secret, _row = tokens.create_user_token(s, Clock(), alice, "plat on laptop", 3600)
    _sync(a, b)
    with b.read() as s:
        me = tokens.authenticate(s, secret, 1500.0)
        user = s.get(User, user_id("alice"))
        invite = s.get(Invite, "inv-1")
    assert (me.name, me.roles) == ("alice", {"org-1": ("acme", "deployer")})
    assert user is not None
    assert verify_password(user.password_hash, PASSWORD)
    assert invite is not None
    assert invite.deleted
    # a role change on b and a removal on a, later: the removal wins on both after a swap
    with b.write() as s:
        row = s.get(Membership, membership_id(user_id("alice"), "org-1"))
        assert row is not None
        row.role = "owner"
        s.add(row)
    with a.write() as s:
        a.clock.observe(b.clock.now())
        row = s.get(Membership, membership_id(user_id("alice"), "org-1"))
        assert row is not None
        row.deleted = True
        s.add(row)
    _sync(a, b)
    _sync(b, a)
    for store in (a, b):
        with store.read() as s:
            assert tokens.authenticate(s, secret, 1500.0).roles == {}
    # and the token expires on every host alike
    with b.read() as s, pytest.raises(Unauthenticated, match="expired"):
        tokens.authenticate(s, secret, 1000.0 + 3600)
    a.close()
    b.close()
