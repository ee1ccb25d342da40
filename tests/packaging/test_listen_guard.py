"""platd-listen-guard keeps platd on loopback while the firewall table is not loaded.

The script runs for real (sh); ``nft`` is a stand-in whose exit status says whether the table
``inet platd`` is loaded, since loading a table here would change this machine's ruleset. The
same script meets the real nft in tests/playbooks/test_chroot.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

GUARD = Path(__file__).resolve().parents[2] / "packaging" / "systemd" / "platd-listen-guard"


def guard(tmp_path: Path, listen: str | None, *, table_loaded: bool) -> tuple[str | None, str]:
    nft = tmp_path / "nft"
    nft.write_text(f"#!/bin/sh\n[ \"$*\" = 'list table inet platd' ] && exit "
                   f"{0 if table_loaded else 1}\nexit 2\n")
    nft.chmod(0o755)
    override = tmp_path / "run" / "listen.env"
    env = {"PATH": "/usr/bin:/bin", "PLATD_NFT": str(nft), "PLATD_LISTEN_OVERRIDE": str(override)}
    if listen is not None:
        env["PLAT_LISTEN"] = listen
    r = subprocess.run(["sh", str(GUARD)], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr  # never keeps platd from starting
    return (override.read_text() if override.exists() else None), r.stderr


@pytest.mark.parametrize("listen", ["[::]:7400", "0.0.0.0:7400", "[2001:db8::11]:7400",
                                    "192.0.2.11:7400"])
def test_without_the_table_platd_listens_on_loopback_only(tmp_path: Path, listen: str) -> None:
    override, said = guard(tmp_path, listen, table_loaded=False)
    assert override == "PLAT_LISTEN=127.0.0.1:7400\n"
    assert "firewall table inet platd is not loaded" in said
    assert f"not on {listen}" in said


@pytest.mark.parametrize("listen", ["[::]:7400", "192.0.2.11:7400"])
def test_with_the_table_platd_listens_where_configured(tmp_path: Path, listen: str) -> None:
    guard(tmp_path, listen, table_loaded=False)
    override, said = guard(tmp_path, listen, table_loaded=True)
    assert override is None, "a stale override from an earlier start must go"
    assert said == ""


@pytest.mark.parametrize("listen", [None, "127.0.0.1:7400", "[::1]:7400", "localhost:7400",
                                    "7400"])
def test_loopback_needs_no_firewall(tmp_path: Path, listen: str | None) -> None:
    assert guard(tmp_path, listen, table_loaded=False) == (None, "")
