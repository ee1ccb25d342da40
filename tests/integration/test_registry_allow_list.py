"""platd connects only where it should: resolving an image reference never makes it connect to
a registry that is not the host's own or on its allow-list, and the refusal reads the same
whether something listens at that address or not (no port scanning through deploys)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.integration.helpers import manifest, ready_env

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_a_deploy_cannot_make_platd_probe_an_arbitrary_host_port(
    docker_daemon: Daemon, tmp_path: Path
) -> None:
    d = docker_daemon
    ready_env(d)
    with socket.socket() as listening, socket.socket() as closed:
        listening.bind(("127.0.0.1", 0))
        listening.listen(8)
        listening.settimeout(0)
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        answers = {}
        for sock in (listening, closed):
            port = sock.getsockname()[1]
            r = d.plat("deploy", "-f", str(manifest(tmp_path, image=f"127.0.0.1:{port}/x:1")))
            assert r.code == 7, r.err
            answers[sock] = r.err.replace(str(port), "PORT")
        try:
            listening.accept()
            raise AssertionError("platd connected to the listening port")
        except BlockingIOError:
            pass  # nobody connected
    assert answers[listening] == answers[closed], "the refusal tells the two ports apart"
    assert answers[listening].splitlines() == [
        "error: registry 127.0.0.1:PORT is not one this host pulls from",
        "  registries allowed here: 127.0.0.1:5000",
        "  push the image to one of them, or ask an operator to add the registry to "
        "allowed_registries in platd.toml",
    ]
    assert d.plat("releases", "--json").json()["releases"] == []
    # The host's own registry still works.
    assert d.plat("deploy", "-f", str(manifest(tmp_path, count=1))).code == 0
