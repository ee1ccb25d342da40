"""What a read command imports on its way to the daemon: only what it uses.

Every ``plat`` command pays for its imports before its first byte is sent (issue 22: read
commands within 3x ``docker ps``). The daemon's and the TUI's packages, ``typing`` (the CLI's
modules import it only for the type checker), and the modules ``http.client`` would import but
a request over http:// never uses (``tui.lazy_modules``) must stay off that path; a change that
brings one back fails here, before it is found in a benchmark.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import PLAT, free_port
from tui.lazy_modules import LEFT_FOR_FIRST_USE

NEVER_ON_THE_READ_PATH = {
    "typing", "pathlib", "asyncio", "threading", "_ssl", *LEFT_FOR_FIRST_USE,
    "litestar", "sqlmodel", "sqlalchemy", "pydantic", "textual", "rich", "aiodocker",
    "websockets",
}


def imported_by(*argv: str, env: dict[str, str]) -> set[str]:
    """The modules ``plat argv`` imports, as ``python -X importtime`` lists them."""
    done = subprocess.run([sys.executable, "-X", "importtime", PLAT, *argv], env=env,
                          capture_output=True, text=True, timeout=60)
    return {line.split("|")[-1].strip() for line in done.stderr.splitlines()
            if line.startswith("import time:")}


@pytest.mark.parametrize("argv", [["envs", "list", "acme/shop/hello"], ["status"],
                                  ["releases"], ["logs"], ["events"]],
                         ids=["envs-list", "status", "releases", "logs", "events"])
def test_a_read_command_imports_nothing_it_does_not_use(argv: list[str],
                                                        tmp_path: os.PathLike[str]) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path),
           "PLAT_API": f"http://127.0.0.1:{free_port()}",  # nobody: exit 10, after the import
           "PLAT_TARGET": "acme/shop/hello/prod"}
    modules = imported_by(*argv, env=env)
    assert "http.client" in modules  # it did get as far as talking to the daemon
    assert not modules & NEVER_ON_THE_READ_PATH, sorted(modules & NEVER_ON_THE_READ_PATH)
