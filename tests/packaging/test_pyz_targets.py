"""packaging/build-pyz makes one reproducible file per Debian release and machine.

What a field engineer relies on: building the same commit twice gives the same bytes (so a
rerun of the bootstrap playbook uploads nothing and restarts nothing); the arm64 and Debian 13
files really hold wheels for their interpreter, although they are built on this amd64 Debian 12
machine; a file started on the wrong interpreter says which one would fit instead of failing on
a compiled import; and ``plat daemon serve`` removes the extractions of other builds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "packaging" / "build-pyz"
FETCH_FAILED = 4

pytestmark = pytest.mark.slow


def unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def build(out_dir: Path, *targets: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("uv") is None:
        unavailable("uv is not installed (scripts/setup installs it)")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_OFFLINE")}
    args = [str(BUILD), "--out-dir", str(out_dir)]
    for target in targets:
        args += ["--target", target]
    r = subprocess.run([*args, "--offline"], capture_output=True, text=True, env=env,
                       timeout=900)
    if r.returncode == FETCH_FAILED:
        r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=900)
    if r.returncode == FETCH_FAILED:
        unavailable("build-pyz could not fetch packages:\n" + r.stderr[-2000:])
    assert r.returncode == 0, r.stderr[-4000:]
    return r


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same two targets built twice, the second time with another umask and directory."""
    first, second = tmp_path_factory.mktemp("first"), tmp_path_factory.mktemp("second") / "x"
    build(first, "debian12-amd64", "debian13-arm64")
    old = os.umask(0o077)
    try:
        build(second, "debian12-amd64", "debian13-arm64")
    finally:
        os.umask(old)
    return first, second


@pytest.mark.parametrize("target", ["debian12-amd64", "debian13-arm64"])
def test_same_commit_same_bytes(builds: tuple[Path, Path], target: str) -> None:
    first, second = (d / f"plat-{target}" for d in builds)
    assert first.read_bytes() == second.read_bytes()


def test_no_build_paths_or_times_inside(builds: tuple[Path, Path]) -> None:
    with zipfile.ZipFile(builds[0] / "plat-debian12-amd64") as z:
        assert {i.date_time for i in z.infolist()} == {z.infolist()[0].date_time}
        names = z.namelist()
        assert not [n for n in names if n.endswith(("direct_url.json", "uv_cache.json"))]
        assert not [n for n in names if n.startswith("site-packages/bin/")
                    and not n.endswith("preamble.py")]
        record = next(n for n in names if n.startswith("site-packages/plat-")
                      and n.endswith(".dist-info/RECORD"))
        assert b"/tmp/" not in z.read(record)


def test_cross_target_holds_its_own_wheels(builds: tuple[Path, Path]) -> None:
    with zipfile.ZipFile(builds[0] / "plat-debian13-arm64") as z:
        extensions = [n for n in z.namelist() if n.endswith(".so")]
    assert extensions
    assert any("cpython-313-aarch64-linux-gnu" in n for n in extensions)
    assert not [n for n in extensions if "x86_64" in n or "cpython-311" in n]


def test_wrong_interpreter_names_the_build_that_fits(builds: tuple[Path, Path],
                                                     tmp_path: Path) -> None:
    """Debian 12's python3 (3.11 on amd64 here) started on the Debian 13 arm64 file."""
    python = "/usr/bin/python3"
    version = subprocess.run([python, "-c", "import sys, os; print(sys.version_info[:2], "
                              "os.uname().machine)"], capture_output=True, text=True).stdout
    if version.strip() != "(3, 11) x86_64":
        pytest.skip(f"{python} is {version.strip()}, not Debian 12's on amd64")
    r = subprocess.run([python, str(builds[0] / "plat-debian13-arm64"), "--version"],
                       capture_output=True, text=True, timeout=120,
                       env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                            "SHIV_ROOT": str(tmp_path / "shiv")})
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert "plat-debian13-arm64, for CPython 3.13 on aarch64" in r.stderr
    assert "install plat-debian12-amd64 instead" in r.stderr
    assert "packaging/" not in r.stderr
    assert "scripts/" not in r.stderr


def test_serve_removes_other_builds_extractions(builds: tuple[Path, Path],
                                               tmp_path: Path) -> None:
    """As installed on a host: the file is /usr/local/bin/plat, so extractions are plat_ID."""
    if subprocess.run(["/usr/bin/python3", "-c", "import sys; assert sys.version_info[:2] "
                       "== (3, 11)"]).returncode != 0:
        pytest.skip("needs Debian 12's python3.11")
    plat = tmp_path / "bin" / "plat"
    plat.parent.mkdir()
    shutil.copy(builds[0] / "plat-debian12-amd64", plat)
    root = tmp_path / "shiv"
    (root / "plat_0ld").mkdir(parents=True)
    (root / "plat_0ld" / "site-packages").mkdir()
    (root / ".plat_0ld_lock").touch()
    (root / "other_0ld").mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SHIV_ROOT": str(root)}

    r = subprocess.run([str(plat), "--version"], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert (root / "plat_0ld").exists(), "only platd's start may remove an old extraction"

    r = subprocess.run([str(plat), "daemon", "serve", "--data", str(tmp_path / "none")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 4, r.stderr  # not initialised: it stops after the preamble ran
    left = sorted(p.name for p in root.iterdir())
    assert [n for n in left if n.startswith("plat_")] == [
        next(n for n in left if n.startswith("plat_"))]
    assert "plat_0ld" not in left
    assert ".plat_0ld_lock" not in left
    assert "other_0ld" in left, "extractions of other programs stay"
