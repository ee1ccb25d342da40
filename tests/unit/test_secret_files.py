"""The secret bundle file's format (docs/cli.md#plat-secrets): one line per key, values quoted
where needed, so what an instance reads is what was stored and nothing more."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from platd.reconcile.secret_files import SecretFiles
from platd.secrets.crypto import quote_value, render_bundle_file

_LINE = re.compile(r'^([A-Za-z_][A-Za-z0-9_]*)=(?:"((?:[^"\\]|\\[\\"nrt])*)"|([^"\s]*))$')
_UNESCAPE = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t"}


def read_bundle(text: str) -> dict[str, str]:
    """The documented grammar, strictly: any other line is an error."""
    out = {}
    for line in text.split("\n")[:-1]:
        match = _LINE.match(line)
        assert match, f"not a bundle line: {line!r}"
        key, quoted, bare = match.groups()
        out[key] = (re.sub(r"\\(.)", lambda m: _UNESCAPE[m.group(1)], quoted)
                    if quoted is not None else bare)
    return out


VALUES = [
    "plain", "", "postgres://app:pw@db:5432/app?sslmode=require", "a=b,c+d%20",
    "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
    'x"\nADMIN=yes', "tab\there", "cr\r\nlf", "back\\slash\\", "  spaced  ", "#not a comment",
    "$HOME ${PATH} `id`", "'single'", "ünïcødé", "trailing\\",
]


@pytest.mark.parametrize("value", VALUES)
def test_every_value_reads_back_exactly_on_one_line(value: str) -> None:
    text = render_bundle_file({"KEY": value, "OTHER": "1"})
    assert text.count("\n") == 2
    assert read_bundle(text) == {"KEY": value, "OTHER": "1"}


def test_simple_values_stay_bare_and_a_newline_cannot_add_a_key() -> None:
    assert quote_value("postgres://app:pw@db/app") == "postgres://app:pw@db/app"
    assert render_bundle_file({"A": 'x"\nADMIN=yes'}) == 'A="x\\"\\nADMIN=yes"\n'


def test_files_per_key_and_the_sweep(tmp_path: Path) -> None:
    pem = "-----BEGIN KEY-----\nabc\n-----END KEY-----\n"
    files = SecretFiles(tmp_path / "shm", lambda version: {"TLS_KEY": pem, "USER": "app"})
    mounts = files.write("inst-1", {"db": "v1"})
    assert sorted(mounts) == ["/run/secrets/db", "/run/secrets/db.d/TLS_KEY",
                              "/run/secrets/db.d/USER"]
    assert Path(mounts["/run/secrets/db.d/TLS_KEY"]).read_bytes() == pem.encode()
    files.write("inst-1", {"db": "v1"})  # written again (a start after a reboot): no error
    files.write("inst-2", {"db": "v1"})
    assert files.remove_all_but({"inst-2"}) == ["inst-1"]
    assert not files.exists("inst-1")
    assert files.exists("inst-2")
    files.clear()
    assert not (tmp_path / "shm").exists()
