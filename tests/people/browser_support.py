"""What the browser tests share: Chromium (Debian's, driven by Playwright), a real platd made
by the real ``platd init``, and the real ``plat login`` running beside the browser."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import PLAT, PLATD, Daemon

CHROMIUM = "/usr/bin/chromium"


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def init_daemon(tmp: Path, settings: str) -> tuple[Daemon, str]:
    """A real ``platd init`` and ``platd serve``: the daemon, and the setup link init printed
    (pointed at the port this daemon listens on)."""
    d = Daemon(data=tmp / "data", config_dir=tmp / "config")
    out = subprocess.run([PLATD, "init", "--data", str(d.data), "--json"], capture_output=True,
                         text=True, timeout=60, check=True)
    info = json.loads(out.stdout)
    d.token, d.host_id = info["token"], info["host"]["id"]
    (d.data / "platd.toml").write_text(settings)
    d.start()
    return d, re.sub(r"^http://[^/]+", d.url, info["setup_url"])


class Login:
    """``plat login --api URL`` running, its output read line by line as it comes."""

    def __init__(self, d: Daemon, api: str | None = None, *extra: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PLAT_")}
        env["PLAT_CONFIG_DIR"] = str(d.config_dir)
        self.proc = subprocess.Popen([PLAT, "login", "--api", api or d.url, *extra],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        for stream in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))

    def expect(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match
        raise AssertionError(f"no line matching {pattern!r} in {self.seen}")

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        code = self.proc.wait(timeout=timeout)
        time.sleep(0.1)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return code, "\n".join(self.seen)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
