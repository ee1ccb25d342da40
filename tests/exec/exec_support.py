"""Helpers for the exec tests: a deployed env and a pseudo-terminal that drives the real plat."""

from __future__ import annotations

import os
import re
import select
import signal
import time
from pathlib import Path
from typing import Any

from ptyprocess import PtyProcess

from tests.conftest import PLAT, Daemon

TARGET = "acme/shop/tools/prod"
BUSYBOX = "127.0.0.1:5000/busybox:latest"

# web: two instances (ambiguous without --instance); box: one (picked without asking).
MANIFEST = f"""\
app = "tools"

[workloads.web]
image = "{BUSYBOX}"
command = ["sleep", "1000000"]
count = 2
cpu = 0.1
memory = "32M"
min_ready = "1s"  # not a readiness test: the 10 s default would only slow it

[workloads.box]
image = "{BUSYBOX}"
command = ["sleep", "1000000"]
count = 1
cpu = 0.1
memory = "32M"
min_ready = "1s"  # not a readiness test: the 10 s default would only slow it
"""


def deploy(d: Daemon, tmp: Path) -> None:
    d.make_env(TARGET)
    assert d.plat("use", TARGET).code == 0
    manifest = tmp / "plat.toml"
    manifest.write_text(MANIFEST)
    r = d.plat("deploy", "-f", str(manifest))
    assert r.code == 0, r.out + r.err


def instances(d: Daemon, workload: str | None = None) -> list[dict[str, Any]]:
    r = d.plat("instances", *([workload] if workload else []), "--json")
    assert r.code == 0, r.err
    return list(r.json()["instances"])


def exec_events(d: Daemon) -> list[dict[str, Any]]:
    import json

    r = d.plat("events", "--json", "--limit", "1000")
    assert r.code == 0, r.err
    return [e for e in map(json.loads, r.out.splitlines()) if e["step"] == "exec"]


class Term:
    """``plat`` (or a shell around it) on the slave side of a pseudo-terminal we hold the master of.

    ``expect`` waits for a pattern in what the terminal shows, reading as it goes; the timeouts
    only bound a hang, they measure nothing.
    """

    def __init__(
        self, argv: list[str], env: dict[str, str], rows: int = 24, cols: int = 80
    ) -> None:
        self.proc = PtyProcess.spawn(argv, env={**env, "TERM": "xterm"}, dimensions=(rows, cols))
        self.output = b""
        self._seen = 0

    @classmethod
    def plat(cls, d: Daemon, *args: str, rows: int = 24, cols: int = 80) -> Term:
        return cls([PLAT, *args], d.env(), rows, cols)

    def expect(self, pattern: bytes | str, timeout: float = 30) -> re.Match[bytes]:
        regex = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.output, self._seen)
            if match:
                self._seen = match.end()
                return match
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(left):
                raise AssertionError(
                    f"{regex.pattern!r} did not appear on the terminal; it shows:\n"
                    f"{self.output.decode(errors='replace')}"
                )

    def send(self, data: bytes | str) -> None:
        self.proc.write(data.encode() if isinstance(data, str) else data)

    def resize(self, rows: int, cols: int) -> None:
        self.proc.setwinsize(rows, cols)  # the kernel sends SIGWINCH to the foreground group

    def wait(self, timeout: float = 30) -> int:
        """The exit code, reading everything the program still writes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._read(0.1) and not self.proc.isalive():
                break
        else:
            raise AssertionError(f"plat did not exit; the terminal shows:\n{self.text}")
        self.proc.wait()
        assert self.proc.exitstatus is not None, f"killed by signal {self.proc.signalstatus}"
        return int(self.proc.exitstatus)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.isalive():
            os.kill(self.proc.pid, sig)

    def close(self) -> None:
        self.kill()
        self.proc.close(force=True)

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.proc.fd], [], [], timeout)
        if not ready:
            return bool(self.proc.isalive())
        try:
            self.output += self.proc.read(65536)
        except EOFError:
            return False
        return True
