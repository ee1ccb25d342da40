"""The API as a real ``platd serve`` process serves it: the socket, the HTTP server's own limits,
signals and exit codes. Everything else about the API is tested in this process
(``conftest.api``); these few prove the process around it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import (
    PLATD,
    Daemon,
    assert_wire_error,
    deploy,
    env_url,
    make_env,
    satisfy_gate,
    start_real_daemon,
    stop_daemon,
    wait_converged,
)

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    d = start_real_daemon(tmp_path_factory.mktemp("real-platd"))
    try:
        yield d
    finally:
        stop_daemon(d)


def test_it_answers_on_its_socket_and_converges_a_deploy(real: Any) -> None:
    status, body = real.api("GET", "/v1/health", token="")
    assert (status, body["ok"], body["host"]) == (200, True, real.host_id)
    target = make_env(real)
    satisfy_gate(real, target)
    status, receipt = deploy(real, target)
    assert status == 201, receipt
    assert wait_converged(real, target)["version"] == "v1"


def test_a_chunked_body_over_one_mib_is_refused(real: Any) -> None:
    """No Content-Length to check up front: the limit must hold while reading, too."""
    target = make_env(real)

    def chunks() -> Iterator[bytes]:
        yield b'{"set": {"BIG": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}}'

    conn = http.client.HTTPConnection("127.0.0.1", real.port, timeout=30)
    try:
        # platd may answer and close before the client sent every chunk (on a busy machine
        # the answer can overtake the upload): the answer is still there to read.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.request("PATCH", env_url(target, "/config"), body=chunks(), encode_chunked=True,
                         headers={"Authorization": f"Bearer {real.token}",
                                  "Content-Type": "application/json"})
        response = conn.getresponse()
        status, body = response.status, json.loads(response.read())
    finally:
        conn.close()
    assert 400 <= status < 500
    assert_wire_error(body, "invalid_input")
    assert real.api("GET", env_url(target, "/config"))[1]["version"] == 0


def test_sigterm_stops_it_cleanly_with_exit_code_0(tmp_path: Path) -> None:
    d = Daemon(data=tmp_path / "data", config_dir=tmp_path / "config")
    d.init()
    d.start()
    assert d.proc is not None
    proc = d.proc
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, d.log()
    assert "Traceback" not in d.log()
    assert "CRITICAL" not in d.log()


def test_a_port_it_cannot_listen_on_stops_it_with_exit_code_1(tmp_path: Path) -> None:
    d = Daemon(data=tmp_path / "data", config_dir=tmp_path / "config")
    d.init()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [PLATD, "serve", "--data", str(d.data), "--listen", f"127.0.0.1:{port}",
             "--runtime", "fake"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "the HTTP server stopped (RuntimeError('could not listen on 127.0.0.1:" in proc.stderr
    assert "shutting platd down" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_platd_init_makes_a_host_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = subprocess.run([PLATD, "init", "--data", str(data), "--name", "edge-1", "--json"],
                           capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    info = json.loads(first.stdout)
    assert info["host"]["name"] == "edge-1"
    assert info["token"].startswith("plat_")
    assert (data / "secret.key").stat().st_mode & 0o777 == 0o600
    again = subprocess.run([PLATD, "init", "--data", str(data)], capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 5, again.stderr
    assert again.stderr.startswith("error: "), again.stderr
    assert json.loads((data / "host.json").read_text())["id"] == info["host"]["id"]


def test_platd_init_makes_an_existing_data_dir_private(tmp_path: Path) -> None:
    # An operator's `mkdir -p /var/lib/platd` leaves it 0755: state, keys and tokens would be
    # readable by every local user unless init tightens the directory it was given.
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    done = subprocess.run([PLATD, "init", "--data", str(data)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert data.stat().st_mode & 0o777 == 0o700
    assert (data / "run").stat().st_mode & 0o777 == 0o700
