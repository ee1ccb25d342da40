"""``platd token reset``: a new host admin token on the host, for a lost one.

On a real data dir made by ``platd init``; the tokens are checked the way the API checks them.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from platd.cli import main
from platd.datadir import DataDir
from platd.services.tokens import authenticate
from platd.spec.errors import Unauthenticated
from platd.store.db import Store


def check(data: Path, token: str) -> str:
    store = Store(data / "state.db", DataDir(data).host()["id"])
    try:
        with store.read() as session:
            return authenticate(session, token, 0.0).role
    finally:
        store.close()


def test_reset_writes_a_working_token_to_a_private_file_and_can_revoke_the_old(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "d"
    assert main(["init", "--data", str(data), "--json"]) == 0
    import json

    old = json.loads(capsys.readouterr().out)["token"]
    assert main(["token", "reset", "--data", str(data)]) == 0
    out = capsys.readouterr().out
    first = (data / "admin-token").read_text().strip()
    assert first not in out  # written, not printed
    assert stat.S_IMODE((data / "admin-token").stat().st_mode) == 0o600
    assert check(data, first) == "owner"
    assert check(data, old) == "owner"  # kept without --revoke-old

    assert main(["token", "reset", "--data", str(data), "--stdout", "--revoke-old"]) == 0
    second = capsys.readouterr().out.strip()
    assert check(data, second) == "owner"
    for revoked in (old, first):
        with pytest.raises(Unauthenticated):
            check(data, revoked)


def test_reset_on_a_data_dir_never_initialised_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "reset", "--data", str(tmp_path / "none")]) == 4
    err = capsys.readouterr().err
    assert "no platd data in" in err
    assert not (tmp_path / "none").exists()
