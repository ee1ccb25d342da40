"""Secret files are unambiguous and do not outlive what they are for: a PEM key arrives intact,
a value with a newline cannot add a key, and the plaintext on the tmpfs goes when its instance
goes and when platd stops."""

from __future__ import annotations

from pathlib import Path

import pytest

from platd.daemon import secrets_root
from tests.conftest import Daemon
from tests.integration.helpers import (
    TARGET,
    containers,
    docker_exec,
    manifest,
    ready_env,
    wait_for,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]

PEM = ("-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEAq7BFUpkGp3+W\n"
       "tq0Ju0o=\n-----END PRIVATE KEY-----\n")
SNEAKY = 'x"\nADMIN=yes\n\\'


def test_a_pem_key_arrives_intact_and_a_newline_cannot_inject_a_key(
    docker_daemon: Daemon, tmp_path: Path
) -> None:
    d = docker_daemon
    ready_env(d)
    status, reply = d.api("PATCH", f"/v1/envs/{TARGET}/secrets/db",
                          {"values": {"TLS_KEY": PEM, "NOTE": SNEAKY}})
    assert status == 200, reply
    r = d.plat("deploy", "-f", str(manifest(tmp_path, count=2)))
    assert r.code == 0, r.err
    c, other = [c for c in containers(d.host_id) if c.state == "running"]

    lines = docker_exec(c.id, "cat", "/run/secrets/db").splitlines()
    assert lines == ['NOTE="x\\"\\nADMIN=yes\\n\\\\"', "PASSWORD=pw-1",
                     'TLS_KEY="' + PEM.replace("\n", "\\n") + '"']
    assert not any(line.startswith("ADMIN=") for line in lines)
    # The exact bytes, one file per key.
    assert docker_exec(c.id, "cat", "/run/secrets/db.d/TLS_KEY") == PEM
    assert docker_exec(c.id, "cat", "/run/secrets/db.d/NOTE") == SNEAKY
    assert docker_exec(c.id, "ls", "/run/secrets/db.d").split() == ["NOTE", "PASSWORD", "TLS_KEY"]

    root = secrets_root(d.host_id)
    assert (root / c.instance / "db").exists()
    assert (root / other.instance / "db").exists()
    # An instance that goes takes its plaintext with it (a scale-down removes one of the two).
    assert d.plat("scale", "web", "--count", "1").code == 0
    wait_for(lambda: len(containers(d.host_id)) == 1, timeout=60)
    (kept,) = containers(d.host_id)
    gone = c if kept.instance == other.instance else other
    # (removed right after its container: wait for that step, a failure is a timeout)
    wait_for(lambda: not (root / gone.instance).exists(), timeout=30)
    assert (root / kept.instance / "db").exists()
    d.stop()
    assert not root.exists(), "plaintext secret files outlived platd"
    # The instance still runs and still reads what was mounted.
    assert docker_exec(kept.id, "cat", "/run/secrets/db.d/PASSWORD") == "pw-1"
