"""What the API and CLI test helpers share: a real platd per test module, and unique names.

Starting ``platd`` costs a few seconds, so each test module shares one daemon and every test
works in an org of its own, which keeps tests independent without a daemon each. The ``Daemon``
class comes from ``tests/conftest.py``, loaded by path because pytest does not make conftest
modules importable.
"""

from __future__ import annotations

import importlib.util
import itertools
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "examples" / "hello" / "plat.toml"


def _root_conftest() -> Any:
    name = "_plat_tests_root_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "conftest.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_shared = _root_conftest()
Daemon, Result, free_port, PLAT = _shared.Daemon, _shared.Result, _shared.free_port, _shared.PLAT
_names = itertools.count(1)


def unique(prefix: str = "t") -> str:
    """A valid resource name that no other test of this session uses."""
    return f"{prefix}{next(_names)}"


def start_daemon(tmp: Path) -> Any:
    d = Daemon(data=tmp / "data", config_dir=tmp / "config")
    d.init()
    d.start()
    return d


def stop_daemon(d: Any) -> None:
    from platd.server import secrets_root

    d.stop()
    # The fake runtime's instances die with the daemon; their secret files on tmpfs do not.
    if d.host_id:
        shutil.rmtree(secrets_root(d.host_id), ignore_errors=True)


def make_env(d: Any, path: str | None = None) -> str:
    """Create ORG/PROJECT/APP/ENV over HTTP with the admin token; default: a new org, app
    ``hello``."""
    path = path or f"{unique('org')}/shop/hello/prod"
    parts = path.split("/")
    for depth, plural in enumerate(("orgs", "projects", "apps", "envs"), start=1):
        status, body = d.api("POST", f"/v1/tree/{plural}", {"path": "/".join(parts[:depth])})
        assert status in (201, 409), body
    return path


class Background:
    """`plat ARGS` in the background, its stdout lines collected as they come."""

    def __init__(self, d: Any, *args: str, **env: str) -> None:
        self.proc = subprocess.Popen([_root_conftest().PLAT, *args], env=d.env(**env),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        code = self.proc.wait(timeout=timeout)
        self._thread.join(timeout=10)
        assert self.proc.stderr is not None
        return code, self.proc.stderr.read()

    def interrupt(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        return self.finish(timeout=30)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
