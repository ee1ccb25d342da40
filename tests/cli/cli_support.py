"""Helpers for driving the real ``plat`` program against a real ``platd``.

``Cli`` runs ``plat`` the way a user's shell does: a subprocess with its own config directory
(``PLAT_CONFIG_DIR``), so ``plat login`` and ``plat use`` in one test never leak into another.
``Cli.bare`` runs it with no ``PLAT_API``/``PLAT_TOKEN`` at all, to prove what the stored login
alone achieves. The daemon and names come from ``tests/daemon_support.py``.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon_support import (  # noqa: F401 - re-exported for the tests
    MANIFEST,
    PLAT,
    ROOT,
    Daemon,
    Result,
    free_port,
    make_env,
    start_daemon,
    stop_daemon,
    unique,
)


def run_plat(*args: str, env: dict[str, str], cwd: Path | None = None,
             input: str | None = None, timeout: float = 120) -> Any:
    """``plat ARGS`` with exactly ``env`` on top of an environment scrubbed of PLAT_*."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("PLAT_")}
    full.update(env)
    proc = subprocess.run([PLAT, *args], capture_output=True, text=True, input=input, env=full,
                          cwd=cwd, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


@dataclass
class Cli:
    daemon: Any
    config_dir: Path

    def __call__(self, *args: str, token: str | None = None, cwd: Path | None = None,
                 input: str | None = None, **extra: str) -> Any:
        """``plat`` with PLAT_API and PLAT_TOKEN (the admin's unless ``token``) set."""
        return self.daemon.plat(*args, token=token, cwd=cwd, input=input,
                                PLAT_CONFIG_DIR=str(self.config_dir), **extra)

    def bare(self, *args: str, cwd: Path | None = None, input: str | None = None,
             **extra: str) -> Any:
        """``plat`` with no PLAT_API/PLAT_TOKEN: only what ``plat login`` stored counts."""
        return run_plat(*args, env={"PLAT_CONFIG_DIR": str(self.config_dir), **extra}, cwd=cwd,
                        input=input)

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.json"




def make_token(d: Any, org: str, role: str) -> str:
    status, body = d.api("POST", "/v1/tokens", {"org": org, "role": role})
    assert status == 201, body
    return str(body["token"])


def satisfy_gate(d: Any, target: str) -> None:
    """Set what examples/hello requires (GREETING and the bundle db), over HTTP."""
    status, body = d.api("PATCH", f"/v1/envs/{target}/config", {"set": {"GREETING": "hi"}})
    assert status == 200, body
    status, body = d.api("POST", f"/v1/envs/{target}/secrets",
                         {"name": "db", "values": {"PASSWORD": "pw"}})
    assert status == 201, body


def assert_error(r: Any, code: int, *needles: str) -> list[str]:
    """A failed command: exit ``code``, nothing on stdout, ``error:`` then hint lines on stderr.

    Returns the hint lines; every ``needle`` must appear somewhere in stderr.
    """
    assert r.code == code, (r.code, r.out, r.err)
    assert r.out == "", r.out
    lines = r.err.rstrip("\n").split("\n")
    assert lines[0].startswith("error: "), r.err
    hints = [line.strip() for line in lines[1:] if line.startswith("  ")]
    assert hints, f"no hint line in: {r.err}"
    for needle in needles:
        assert needle in r.err, (needle, r.err)
    return hints
