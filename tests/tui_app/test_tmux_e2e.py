"""Bare ``plat`` in a real terminal (tmux), against a real platd driving real containers.

tmux runs the installed ``plat``; ``send-keys`` types what a person would; ``capture-pane``
reads what they would see. The journey: Status, Logs (a container's own output, live), an exec
shell in the container (a command, ``top`` full screen, a file edited in ``vi``), leaving the
shell returns to Logs, ``q`` quits and the program exits.
"""

from __future__ import annotations

import os
import shlex
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PLAT, Daemon, _remove_containers
from tests.tui_app.tmux_support import TmuxWindow

pytestmark = [pytest.mark.docker, pytest.mark.slow]

TARGET = "acme/shop/ticker/prod"
MANIFEST = """\
app = "ticker"

[workloads.web]
image = "127.0.0.1:5000/busybox:latest"
command = ["sh", "-c", "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 1; done"]
count = 1
cpu = 0.1
memory = "32M"
min_ready = "1s"  # not a readiness test: the 10 s default would only slow it
"""


class Tmux(TmuxWindow):
    """``argv`` in a tmux window; once it ends, the window says PLAT-EXITED-<its exit code>."""

    def __init__(self, argv: list[str], env: dict[str, str], size: tuple[int, int]) -> None:
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        command = f"env {exports} {shlex.join(argv)}; echo PLAT-EXITED-$?; sleep 30"
        super().__init__(f"plat-e2e-{os.getpid()}", command, size)


def toasts(screen: str) -> str:
    """The text of the notifications on ``screen``, their lines joined: how a notification
    wraps depends on the terminal's width."""
    return " ".join(line.split("▌", 1)[1].strip() for line in screen.splitlines() if "▌" in line)


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory, docker_services: None) -> Iterator[Daemon]:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed (scripts/setup installs it)")
    tmp = tmp_path_factory.mktemp("tmux")
    daemon = Daemon(data=tmp / "data", config_dir=tmp / "config", runtime="docker")
    daemon.init()
    daemon.start()
    try:
        daemon.make_env(TARGET)
        manifest = tmp / "plat.toml"
        manifest.write_text(MANIFEST)
        r = daemon.plat("deploy", "-f", str(manifest), "--target", TARGET)
        assert r.code == 0, r.out + r.err
        yield daemon
    finally:
        daemon.stop()
        _remove_containers(daemon.host_id)


def test_plat_in_tmux_logs_then_exec_then_back(d: Daemon, tmp_path: Path) -> None:
    env = d.env(PLAT_TARGET=TARGET, TERM="xterm-256color")
    env = {k: v for k, v in env.items() if k.startswith(("PLAT_", "TERM", "PATH", "HOME", "LANG"))}
    term = Tmux([PLAT], env, (100, 30))
    try:
        screen = term.wait(lambda s: "running" in s and TARGET in s, "the Status view")
        assert "1/1" in screen, screen

        term.keys("4")
        screen = term.wait(lambda s: "tick-" in s and " app " in s, "the container's output")
        first = [line for line in screen.splitlines() if "tick-" in line]
        term.wait(lambda s: [line for line in s.splitlines() if "tick-" in line] != first,
                  "new lines arriving live")

        term.keys("x")
        screen = term.wait(lambda s: "plat: exec in instance" in s, "the exec banner")
        assert "(workload web, release v1" in screen
        term.wait(lambda s: any(line.rstrip().endswith(("#", "$")) for line in s.splitlines()),
                  "the container's shell prompt")
        term.type("echo hi-$((40+2)); tty")
        term.keys("Enter")
        screen = term.wait(lambda s: "hi-42" in s and "/dev/pts/" in s, "the command's output")

        term.type("top")
        term.keys("Enter")
        screen = term.wait(lambda s: "Mem:" in s and "PID" in s, "top drawing full screen")
        term.keys("q")  # busybox top leaves its last frame on the screen, as in any terminal
        term.type("echo back-$((1+1))")
        term.keys("Enter")
        term.wait(lambda s: "back-2" in s, "the shell answering again after top")

        # vi: the alternate screen, cursor addressing, Escape and a ':' command line.
        term.type("vi /tmp/note")
        term.keys("Enter")
        term.wait(lambda s: sum(line.strip() == "~" for line in s.splitlines()) >= 10,
                  "vi's empty buffer filling the screen")
        term.type("iwritten-in-vi")
        term.keys("Escape")
        # Like any full-screen program, plat reads an Escape followed within ESCDELAY (100 ms)
        # by another key as one Alt+key: a person's Escape stands alone (docs/tui.md).
        time.sleep(0.3)
        term.type(":wq")
        term.keys("Enter")
        term.type("cat /tmp/note | tr a-z A-Z")
        term.keys("Enter")
        screen = term.wait(lambda s: "WRITTEN-IN-VI" in s, "the file vi saved")
        assert sum(line.strip() == "~" for line in screen.splitlines()) < 3, \
            "vi's screen is gone once it exits:\n" + screen

        term.type("exit")
        term.keys("Enter")
        screen = term.wait(lambda s: "ended with exit code 0" in toasts(s), "the session's end")
        assert "tick-" in screen, "back on the Logs view it was opened from"

        term.keys("q")
        term.wait(lambda s: "PLAT-EXITED-0" in s, "plat exiting with 0", timeout=15)
    finally:
        term.close()
