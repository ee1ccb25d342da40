"""The single-file ``plat`` from packaging/build-pyz runs where only python3.11 is installed.

Builds it into a temporary directory for the system interpreter (Debian's /usr/bin/python3, not
the project's venv) and runs ``--version``, ``--help`` and ``daemon --help`` with a clean
environment: PATH without the venv, no PYTHONPATH, a working directory outside the repository
and a fresh SHIV_ROOT, so every module must come from inside the file. The build tries uv's cache
first and then the package index; when neither has what it needs the test skips, except under
CI, where a build that cannot run is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from platd import __version__

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "packaging" / "build-pyz"
CLEAN_PATH = "/usr/bin:/bin"
FETCH_FAILED = 4  # build-pyz's exit code when a package could not be fetched

pytestmark = pytest.mark.slow


def unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def system_python311() -> str:
    python = shutil.which("python3", path=CLEAN_PATH)
    if python is None:
        unavailable(f"no python3 on {CLEAN_PATH}")
    assert python is not None
    version = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    if version != "(3, 11)":
        unavailable(f"{python} is Python {version}; the single-file build targets 3.11")
    return python


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("uv") is None:
        unavailable("uv is not installed (scripts/setup installs it)")
    out = tmp_path_factory.mktemp("pyz") / "plat"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_OFFLINE")}
    command = [str(BUILD), "--output", str(out), "--python", system_python311()]
    r = subprocess.run([*command, "--offline"], capture_output=True, text=True, env=env,
                       timeout=600)
    if r.returncode == FETCH_FAILED:
        r = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    if r.returncode == FETCH_FAILED:
        unavailable("build-pyz could not fetch packages (no network and not in uv's cache):\n"
                    + r.stderr[-2000:])
    assert r.returncode == 0, r.stderr[-4000:]
    return out


def clean_env(pyz: Path) -> dict[str, str]:
    home = pyz.parent / "home"
    home.mkdir(exist_ok=True)
    return {"PATH": CLEAN_PATH, "HOME": str(home), "LANG": "C.UTF-8",
            "SHIV_ROOT": str(pyz.parent / "shiv")}


def run(pyz: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = clean_env(pyz)
    return subprocess.run([str(pyz), *args], capture_output=True, text=True, env=env,
                          cwd=env["HOME"], timeout=120)


def test_is_one_executable_zipapp(pyz: Path) -> None:
    assert pyz.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    assert os.access(pyz, os.X_OK)
    with zipfile.ZipFile(pyz) as z:
        names = set(z.namelist())
    assert {"__main__.py", "environment.json", "site-packages/tui/cli/main.py",
            "site-packages/platd/cli.py"} <= names


def test_carries_the_web_console(pyz: Path) -> None:
    """The console's page and ghostty-web (git-ignored, copied by scripts/setup): no Node
    where platd runs, so the file must carry the built module."""
    with zipfile.ZipFile(pyz) as z:
        names = set(z.namelist())
    static = "site-packages/platd/console/static/"
    assert {static + "console.js", static + "lineedit.js", static + "index.html",
            static + "vendor/ghostty-web.js"} <= names


def test_version(pyz: Path) -> None:
    r = run(pyz, "--version")
    assert (r.returncode, r.stdout.strip()) == (0, f"plat {__version__}"), r.stderr


def test_help(pyz: Path) -> None:
    r = run(pyz, "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: plat")
    assert "daemon" in r.stdout


def test_daemon_help(pyz: Path) -> None:
    r = run(pyz, "daemon", "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: plat daemon")
    assert "init" in r.stdout
    assert "serve" in r.stdout


def test_bundles_the_daemon_stack(pyz: Path) -> None:
    """--help imports almost nothing; the daemon's own dependencies must be inside too."""
    with zipfile.ZipFile(pyz) as z:
        tops = {n.split("/")[1] for n in z.namelist() if n.startswith("site-packages/")}
    assert {"litestar", "uvicorn", "sqlmodel", "sqlalchemy", "aiodocker", "cryptography",
            "textual"} <= tops


def test_runs_the_daemon(pyz: Path, tmp_path: Path) -> None:
    """init (SQLite, migrations shipped as data, cryptography) and serve (Litestar, uvicorn)
    from the one file, on loopback with the fake runtime."""
    data = tmp_path / "data"
    r = run(pyz, "daemon", "init", "--data", str(data), "--name", "pyz", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["host"]["name"] == "pyz"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path / "platd.log").open("wb")
    proc = subprocess.Popen(
        [str(pyz), "daemon", "serve", "--data", str(data), "--listen", f"127.0.0.1:{port}",
         "--runtime", "fake"], env=clean_env(pyz), stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "platd.log").read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=1) as h:
                    assert h.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "platd from the pyz did not answer in 60s"
                time.sleep(0.2)
        # The console's files are served from inside the file.
        for name in ("lineedit.js", "vendor/ghostty-web.js"):
            url = f"http://127.0.0.1:{port}/console/static/{name}"
            with urllib.request.urlopen(url, timeout=10) as r:
                assert (r.status, r.headers["Content-Type"].split(";")[0]) == (
                    200, "text/javascript")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # stopping is the daemon's concern, not packaging's
            proc.kill()
            proc.wait()
        log.close()


def test_later_starts_go_straight_to_the_extracted_bundle(pyz: Path) -> None:
    """Once the bundle is extracted, plat starts without shiv's bootstrap (whose imports were
    most of what the file added to every command: packaging/pyz_main.py); a ``SHIV_*``
    setting still gets shiv's bootstrap, which honours it."""
    assert run(pyz, "--version").returncode == 0  # extracted by now, if it was not before
    env = {**clean_env(pyz), "PYTHONPROFILEIMPORTTIME": "1"}  # -X importtime: every import
    direct = subprocess.run([str(pyz), "--version"], capture_output=True, text=True, env=env,
                            cwd=env["HOME"], timeout=120)
    assert (direct.returncode, direct.stdout.strip()) == (0, f"plat {__version__}")
    assert "_bootstrap" not in direct.stderr
    assert "| tui.entry" in direct.stderr
    forced = subprocess.run([str(pyz), "--version"], capture_output=True, text=True,
                            env={**env, "SHIV_FORCE_EXTRACT": "1"}, cwd=env["HOME"],
                            timeout=120)
    assert (forced.returncode, forced.stdout.strip()) == (0, f"plat {__version__}")
    assert "| _bootstrap" in forced.stderr
