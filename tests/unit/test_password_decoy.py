"""The decoy hash that an unknown user name is checked against (no user enumeration by timing)
is written out in the source rather than hashed at every start; it must cost what a real
user's hash costs, so its argon2 parameters must be the hasher's."""

from __future__ import annotations

from argon2 import extract_parameters

from platd.auth import passwords


def test_the_decoy_is_hashed_with_the_hashers_own_parameters() -> None:
    real = passwords.hash_password("a password of ours")
    assert extract_parameters(passwords.DUMMY_HASH) == extract_parameters(real)


def test_no_password_matches_the_decoy() -> None:
    assert not passwords.verify_password(passwords.DUMMY_HASH, "not a password")
    assert not passwords.verify_password(passwords.DUMMY_HASH, "")
