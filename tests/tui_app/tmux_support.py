"""A real terminal for tests: one tmux server of its own (``-L``), one window running a shell
command line, read back as the screen a person would see (``capture-pane``)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable


class TmuxWindow:
    def __init__(self, socket: str, command: str, size: tuple[int, int]) -> None:
        self.socket = socket
        self.run("new-session", "-d", "-x", str(size[0]), "-y", str(size[1]), command)

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True,
                              capture_output=True, text=True).stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "0", *keys)

    def type(self, text: str) -> None:
        self.run("send-keys", "-t", "0", "-l", text)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "0")

    def wait(self, predicate: Callable[[str], bool], what: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"the terminal never showed {what}; it shows:\n{screen}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)
