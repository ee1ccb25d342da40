"""The API beyond loopback speaks only TLS, and ``plat login`` pins the cluster CA.

A real ``platd serve`` listens on its lab address (10.213.0.x inside a network namespace the
test makes: not loopback, so platd must serve https) and the real ``plat`` runs in the same
namespace, with its own config dir, as an operator runs it. What must hold: plain HTTP gets no
answer there and a data dir without a CA refuses to listen at all; login shows the CA's
fingerprint and refuses a wrong one (storing nothing), accepts the right one and pins it, so
later commands need nothing more; a different CA later at the same address (another cluster,
or someone in the middle) is refused.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.netns import Lab
from tests.cluster.platd_cluster import API_PORT, PLATD, Host, HostNode
from tests.conftest import PLAT

pytestmark = pytest.mark.slow


def plat(node: HostNode, config: Path, *args: str, stdin: str = "",
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PLAT_")}
    clean.update(PLAT_CONFIG_DIR=str(config), COLUMNS="200", **(env or {}))
    return subprocess.run([*node.prefix, PLAT, *args], input=stdin, capture_output=True,
                          text=True, env=clean, timeout=60, check=False)


def init(node: HostNode, data: Path) -> dict[str, object]:
    out = node.run(PLATD, "init", "--data", str(data), "--name", f"tls{node.index}", "--json")
    made: dict[str, object] = json.loads(out.stdout)
    return made


@pytest.fixture
def lab(make_lab) -> Lab:  # type: ignore[no-untyped-def]
    made: Lab = make_lab(1)
    return made


@pytest.fixture
def host(lab: Lab, tmp_path: Path) -> Iterator[Host]:
    made = init(lab[0], tmp_path / "d")
    h = Host(lab[0], tmp_path / "d", token=str(made["token"]), host_id="")
    h.start()
    try:
        yield h
    finally:
        h.stop()


def test_beyond_loopback_platd_serves_tls_and_plain_http_gets_nothing(host: Host) -> None:
    assert host.ok("GET", "/v1/health")["ok"] is True  # https, trusting the CA only
    plain = host.node.run("curl", "-sS", "-m", "5", f"http://{host.node.ip}:{API_PORT}/v1/health",
                          check=False)
    assert plain.returncode != 0 or '"ok"' not in plain.stdout
    # The certificate names the address and is the CA's.
    verified = host.node.run("curl", "-sS", "-m", "5", "--cacert", str(host.ca),
                             f"https://{host.node.ip}:{API_PORT}/v1/health", check=False)
    assert '"ok":true' in verified.stdout, verified.stderr
    unknown = host.node.run("curl", "-sS", "-m", "5",
                            f"https://{host.node.ip}:{API_PORT}/v1/health", check=False)
    assert unknown.returncode != 0  # no system CA vouches for it


def test_a_data_dir_without_a_ca_refuses_to_listen_beyond_loopback(lab: Lab,
                                                                   tmp_path: Path) -> None:
    data = tmp_path / "old"
    init(lab[0], data)
    shutil.rmtree(data / "tls")  # as a data dir made before platd had a CA
    out = lab[0].run(PLATD, "serve", "--data", str(data), "--runtime", "fake", "--listen",
                     f"{lab[0].ip}:{API_PORT}", check=False, timeout=60)
    assert out.returncode == 2, out.stderr
    assert f"refusing to listen on {lab[0].ip} without TLS" in out.stderr
    assert "platd ca --create" in out.stderr
    assert "Traceback" not in out.stderr
    # Loopback stays plain and needs no CA.
    assert lab[0].run("ss", "-ltn").stdout.count(f":{API_PORT}") == 0


def test_login_refuses_a_wrong_fingerprint_pins_the_right_one(host: Host,
                                                               tmp_path: Path) -> None:
    node, config = host.node, tmp_path / "cfg"
    api = f"https://{node.ip}:{API_PORT}"
    right = node.run(PLATD, "ca", "--data", str(host.data)).stdout.strip()
    assert right.startswith("sha256:")
    assert len(right) == 71
    wrong = "sha256:" + ("0" * 64)

    refused = plat(node, config, "login", "--api", api, "--token-stdin",
                   "--ca-fingerprint", wrong, stdin=host.token)
    assert refused.returncode == 3, refused.stderr
    assert f"it has fingerprint {right}" in refused.stderr
    assert "nothing was stored" in refused.stderr
    assert host.token not in refused.stdout + refused.stderr
    assert not config.exists()

    # Nobody to ask and no fingerprint: refused, with the fingerprint to check.
    unasked = plat(node, config, "login", "--api", api, "--token-stdin", stdin=host.token)
    assert unasked.returncode == 3, unasked.stderr
    assert f"--ca-fingerprint {right}" in unasked.stderr
    assert not config.exists()

    bad = plat(node, config, "login", "--api", api, "--token-stdin", "--ca-fingerprint", "x:y",
               stdin=host.token)
    assert bad.returncode == 2
    assert "is not a CA fingerprint" in bad.stderr

    # The right one, written as openssl prints it (colons, capitals): logged in and pinned.
    spaced = ":".join(right[7:][i:i + 2] for i in range(0, 64, 2)).upper()
    ok = plat(node, config, "login", "--api", api, "--token-stdin", "--ca-fingerprint", spaced,
              stdin=host.token)
    assert ok.returncode == 0, ok.stderr
    assert f"has the fingerprint given ({right})" in ok.stderr
    pins = list((config / "ca").glob("*.pem"))
    assert len(pins) == 1
    assert pins[0].read_text() == host.ca.read_text()
    assert oct(pins[0].stat().st_mode & 0o777) == "0o600"
    whoami = plat(node, config, "whoami")
    assert whoami.returncode == 0, whoami.stderr
    assert api in whoami.stdout


def test_another_ca_at_the_pinned_address_is_refused(host: Host, tmp_path: Path) -> None:
    node, config = host.node, tmp_path / "cfg"
    api = f"https://{node.ip}:{API_PORT}"
    right = node.run(PLATD, "ca", "--data", str(host.data)).stdout.strip()
    assert plat(node, config, "login", "--api", api, "--token-stdin", "--ca-fingerprint", right,
                stdin=host.token).returncode == 0
    host.stop()
    # Another host (its own CA) now answers at the same address.
    other = init(node, tmp_path / "other")
    impostor = Host(node, tmp_path / "other", token=str(other["token"]), host_id="")
    impostor.start()
    try:
        r = plat(node, config, "whoami")
        assert r.returncode == 10, r.stderr
        assert f"the certificate of {api} is not one to trust" in r.stderr
        assert "--ca-fingerprint" in r.stderr
        assert "Traceback" not in r.stderr
        # Logging in again with the old fingerprint is refused too.
        again = plat(node, config, "login", "--api", api, "--token-stdin", "--ca-fingerprint",
                     right, stdin=str(other["token"]))
        assert again.returncode == 3
        assert "is not the one given" in again.stderr
    finally:
        impostor.stop()


def test_exec_over_tls_starts_its_process_and_attaches_trusting_the_pinned_ca(
    host: Host, tmp_path: Path,
) -> None:
    """plat exec's two requests (the POST that starts the process, then the websocket that
    attaches to it) both go over TLS to the pinned CA."""
    node, config = host.node, tmp_path / "cfg"
    api = f"https://{node.ip}:{API_PORT}"
    right = node.run(PLATD, "ca", "--data", str(host.data)).stdout.strip()
    assert plat(node, config, "login", "--api", api, "--token-stdin", "--ca-fingerprint", right,
                stdin=host.token).returncode == 0
    target = "acme/shop/tools/prod"
    parts = target.split("/")
    for depth, plural in enumerate(("orgs", "projects", "apps", "envs"), start=1):
        made = plat(node, config, plural, "create", "/".join(parts[:depth]))
        assert made.returncode == 0, made.stderr
    manifest = tmp_path / "plat.toml"
    manifest.write_text('app = "tools"\n[workloads.box]\nimage = "127.0.0.1:5000/busybox:latest"\n'
                        'command = ["sleep", "1000000"]\nmin_ready = "1s"\n')
    deployed = plat(node, config, "deploy", "-f", str(manifest), "--target", target)
    assert deployed.returncode == 0, deployed.stderr
    r = plat(node, config, "exec", "box", "--target", target, "--json", "--", "echo", "over-tls")
    assert r.returncode == 0, r.stderr
    started = json.loads(r.stderr.splitlines()[0])
    assert started["prestarted"] is True
    assert r.stdout == "echo over-tls\n"  # the fake runtime's process prints its command line
