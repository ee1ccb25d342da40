"""plat exec end to end: the real plat in a pseudo-terminal, a real platd, real containers.

One env is deployed for the whole module (web: two instances, box: one) to keep it short.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from exec_support import TARGET, Term, deploy, exec_events, instances

from tests.conftest import PLAT, Daemon, _remove_containers

pytestmark = [pytest.mark.docker, pytest.mark.slow]

BANNER = r"plat: exec in instance {id} \(workload {workload}, release v1, host "
STTY = rb"([0-9a-f]+(?::[0-9a-f]+){10,})\r\n"  # what `stty -g` prints


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory, docker_services: None) -> Iterator[Daemon]:
    tmp = tmp_path_factory.mktemp("exec")
    daemon = Daemon(data=tmp / "data", config_dir=tmp / "config", runtime="docker")
    daemon.init()
    daemon.start()
    try:
        deploy(daemon, tmp)
        yield daemon
    finally:
        daemon.stop()
        _remove_containers(daemon.host_id)


@pytest.fixture
def box(d: Daemon) -> dict:  # type: ignore[type-arg]
    (only,) = instances(d, "box")
    return only


def wrapped(d: Daemon, script: str) -> Term:
    """A shell in the terminal that prints the terminal's settings around `script`."""
    return Term(["/bin/sh", "-c", f"stty -g; {script}; echo rc=$?; stty -g"], d.env())


def test_shell_has_a_tty_says_where_first_and_restores_the_terminal(d: Daemon, box: dict) -> None:  # type: ignore[type-arg]
    term = wrapped(d, f"{PLAT} exec box")
    try:
        before = term.expect(STTY).group(1)
        term.expect(BANNER.format(**box))
        term.expect("# ")  # the remote prompt comes after the banner
        term.send("echo $((6*7)); tty\r")
        term.expect(r"42\r\n/dev/pts/\d+")
        term.send("exit 5\r")
        term.expect("rc=5")
        assert term.expect(STTY).group(1) == before, "the terminal settings are restored"
        assert term.wait() == 0
    finally:
        term.close()


def test_command_output_and_exit_code(d: Daemon, box: dict) -> None:  # type: ignore[type-arg]
    script = "echo out-$((1+1)); echo err-$((2+2)) >&2; exit 3"
    term = Term.plat(d, "exec", "box", "--", "sh", "-c", script)
    try:
        term.expect(BANNER.format(**box))
        assert term.wait() == 3
        # stdout and stderr are two streams: their order on the terminal is not fixed
        assert "\r\nout-2\r\n" in term.text
        assert "\r\nerr-4\r\n" in term.text
    finally:
        term.close()

    r = d.plat("exec", "box", "--", "sh", "-c", script)  # no terminal: the streams stay apart
    assert (r.code, r.out) == (3, "out-2\n")
    first, *rest = r.err.splitlines()
    assert first.startswith(f"plat: exec in instance {box['id']}")
    assert rest == ["err-4"]


def test_window_resize_reaches_the_remote_tty(d: Daemon) -> None:
    term = Term.plat(d, "exec", "box", rows=24, cols=80)
    try:
        term.expect("# ")
        term.send("stty size\r")
        term.expect(r"\r\n24 80\r\n")
        term.resize(40, 120)
        sizes: list[bytes] = []
        while b"40 120" not in sizes and len(sizes) < 20:
            # SIGWINCH and the next keystrokes race to platd: ask until the new size shows.
            term.send("stty size\r")
            sizes.append(term.expect(rb"\r\n(\d+ \d+)\r\n").group(1))
        assert sizes[-1] == b"40 120", sizes
        term.send("exit\r")
        assert term.wait() == 0
    finally:
        term.close()


def test_ctrl_c_interrupts_the_remote_command_and_ctrl_d_ends_the_shell(d: Daemon) -> None:
    term = Term.plat(d, "exec", "box")
    try:
        term.expect("# ")
        term.send("echo sleeping; sleep 600\r")
        term.expect("\r\nsleeping\r\n")
        # "sleeping" is printed just before the shell forks sleep: a Ctrl-C that lands in
        # between reaches the shell, not sleep. Press again, as a person would, a few times.
        for _ in range(5):
            term.send(b"\x03")
            with contextlib.suppress(AssertionError):
                term.expect("# ", timeout=3)
                break
        else:
            raise AssertionError(f"Ctrl-C did not interrupt the remote sleep:\n{term.text}")
        term.send("echo rc=$?\r")
        term.expect("rc=130")
        # Ctrl-D at the next prompt, as a person would: busybox's line editor asks the terminal
        # for the cursor position (ESC [6n) before each prompt and eats what it reads meanwhile.
        term.expect("# ")
        term.send(b"\x04")
        assert term.wait() == 0
    finally:
        term.close()


def test_ctrl_c_without_a_tty_is_forwarded_as_a_signal(d: Daemon) -> None:
    # No -t: the local terminal stays cooked, so Ctrl-C is a SIGINT for plat, which platd
    # delivers to the remote process (the Docker API cannot signal an exec'd process itself).
    # "waiting" comes once the trap is set, so the signal cannot land before it is handled.
    script = 'trap "echo got-sigint; exit 130" INT; echo waiting; while :; do sleep 0.1; done'
    term = Term.plat(d, "exec", "box", "--", "sh", "-c", script)
    try:
        term.expect("waiting")
        term.send(b"\x03")
        term.expect("got-sigint")
        assert term.wait() == 130
    finally:
        term.close()


def test_pipe_mode_honours_end_of_input_and_is_binary_safe(d: Daemon) -> None:
    term = wrapped(d, f"echo hi | {PLAT} exec box -i -- cat")
    try:
        term.expect(r"\r\nhi\r\n")
        term.expect("rc=0")
        assert term.wait() == 0
    finally:
        term.close()

    payload = bytes(range(256)) * 512 + os.urandom(100_000)
    proc = subprocess.run(
        [PLAT, "exec", "box", "-i", "--", "sh", "-c", "cat; echo after-eof >&2"],
        input=payload, capture_output=True, env=d.env(), timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == payload
    assert proc.stderr.endswith(b"after-eof\n"), "the command went on after its stdin closed"


def test_several_instances_without_a_terminal_are_refused_with_the_flags(d: Daemon) -> None:
    web = instances(d, "web")
    assert len(web) == 2
    r = d.plat("exec", "web", "--", "true")
    assert r.code == 2
    assert "web has 2 running instances and plat does not pick one at random" in r.err
    for inst in web:
        assert f"plat exec web --instance {inst['id']} --target acme/shop/tools/prod" in r.err
    r = d.plat("exec", "web", "--json", "--", "true")
    error = json.loads(r.err)["error"]
    assert [i["id"] for i in error["details"]["instances"]] == [i["id"] for i in web]


def test_several_instances_at_a_terminal_are_picked_from_a_list(d: Daemon) -> None:
    web = instances(d, "web")
    term = Term.plat(d, "exec", "web", "--", "hostname")
    try:
        term.expect("web has 2 running instances; pick one")
        for n, inst in enumerate(web, start=1):
            term.expect(rf"{n} {inst['id']}\s+web\s+v1\s+running\s+healthy\s+\d+[smhd]")
        term.expect(r"instance \[1-2\]: ")
        term.send("2\r")
        term.expect(BANNER.format(**web[1]))
        term.expect(web[1]["container_id"][:12])  # a container's hostname is its short id
        assert term.wait() == 0
    finally:
        term.close()


def test_every_session_is_an_audit_event_without_its_contents(d: Daemon, box: dict) -> None:  # type: ignore[type-arg]
    seen = len(exec_events(d))
    r = d.plat("exec", "box", "-i", "--", "sh", "-c", "cat >/dev/null; exit 4",
               input="canary-stream-content\n")
    assert r.code == 4
    opened, closed = exec_events(d)[seen:]
    whoami = d.plat("whoami", "--json").json()
    for event in (opened, closed):
        assert event["actor"]
        assert event["actor"] in json.dumps(whoami)
        assert event["instance_id"] == box["id"]
        assert event["workload"] == "box"
        assert "sh -c 'cat >/dev/null; exit 4'" in event["message"]
    assert "opened an exec session" in opened["message"]
    assert "ended with exit code 4" in closed["message"]
    assert "started 20" in closed["message"]
    assert "ended 20" in closed["message"]
    assert closed["outcome"] == "failed"
    assert "canary-stream-content" not in json.dumps(exec_events(d))


def test_sigterm_restores_the_terminal_and_hangs_up_the_remote_shell(d: Daemon, box: dict) -> None:  # type: ignore[type-arg]
    term = wrapped(d, f"{PLAT} exec box")
    try:
        before = term.expect(STTY).group(1)
        term.expect("# ")
        term.send("echo hangup-marker-$((40+2))\r")
        term.expect("hangup-marker-42")
        os.kill(_child_of(term.proc.pid), signal.SIGTERM)
        term.expect("rc=143")
        assert term.expect(STTY).group(1) == before
        assert term.wait() == 0
    finally:
        term.close()
    processes = ""
    for _ in range(100):
        processes = subprocess.run(["docker", "exec", box["container_id"], "ps", "-o", "args"],
                                   capture_output=True, text=True, check=True).stdout
        if not any(line.strip() in ("sh", "bash") for line in processes.splitlines()):
            break
        time.sleep(0.1)
    assert not any(line.strip() in ("sh", "bash") for line in processes.splitlines()), processes


def test_exec_into_an_instance_that_is_not_running_names_the_running_ones(d: Daemon) -> None:
    paused, other = instances(d, "web")
    subprocess.run(["docker", "pause", paused["container_id"]], check=True, capture_output=True)
    try:
        _wait_state(d, paused["id"], "paused")
        r = d.plat("exec", "web", "--instance", paused["id"], "--", "true")
        assert r.code == 5
        assert f"instance {paused['id']} of web is paused, not running" in r.err
        assert f"plat exec web --instance {other['id']}" in r.err
        assert f"--instance {paused['id']}" not in r.err.split("running instances:")[1]

        r = d.plat("exec", "web", "--", "hostname")  # one running instance left: no question
        assert r.code == 0, r.err
        assert f"plat: exec in instance {other['id']}" in r.err
    finally:
        subprocess.run(["docker", "unpause", paused["container_id"]], capture_output=True)
        _wait_state(d, paused["id"], "running")


def _wait_state(d: Daemon, instance_id: str, state: str) -> None:
    for _ in range(300):
        if {i["id"]: i["state"] for i in instances(d, "web")}.get(instance_id) == state:
            return
        time.sleep(0.1)
    raise AssertionError(f"instance {instance_id} never became {state}")


def _child_of(pid: int) -> int:
    for _ in range(100):
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                return int(stat.parent.name)
        time.sleep(0.05)
    raise AssertionError(f"process {pid} has no child")


def test_the_process_runs_before_its_websocket_attaches_and_loses_no_output(
    d: Daemon, box: dict,  # type: ignore[type-arg]
) -> None:
    """plat exec starts the process over HTTP while it imports its websocket library: the
    command runs at once, and what it wrote before the websocket attached still arrives."""
    from websockets.sync.client import connect

    from tui import exec_session

    marker = f"/tmp/early-{os.getpid()}-{time.monotonic_ns()}"
    status, answer = d.api("POST", f"/v1/envs/{TARGET}/exec/sessions", {
        "instance": box["id"], "cmd": ["sh", "-c", f"echo first; touch {marker}; echo second"],
    })
    assert status == 201, answer
    container = box["container_id"]
    for _ in range(100):  # it runs with no websocket open
        if subprocess.run(["docker", "exec", container, "test", "-e", marker]).returncode == 0:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the command did not run before its websocket attached")
    url = exec_session.exec_url(d.url, TARGET, answer["session"])
    with connect(url, additional_headers={"Authorization": f"Bearer {d.token}"}, proxy=None,
                 open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "started"
        output = b""
        while not (message := ws.recv(timeout=10)) or isinstance(message, bytes):
            output += message[1:]
        assert json.loads(message) == {"type": "exit", "code": 0}
    assert output == b"first\nsecond\n"
