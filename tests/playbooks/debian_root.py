"""What the real-target playbook tests share: a cached Debian root, the builds, apt's way out.

test_chroot.py and test_systemd_container.py both start from a minimal Debian 12 root made by
debootstrap once and cached as a tarball under $PLAT_TEST_CACHE (default
/var/tmp/plat-dev/cache), with apt's downloads cached beside it. Both keep the target in a
network namespace of its own and let apt reach Debian's mirror only through apt_proxy.py.

What several modules need is made once: the tarball and the image (test_systemd_container.py)
under a lock in $PLAT_TEST_CACHE, so two xdist workers that reach them together do not both
debootstrap; the plat build once per test run (``shared_pyz``), since build-pyz gives the same
bytes every time for the same commit and takes minutes under load.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "playbooks"
PYINFRA = str(Path(sys.executable).parent / "pyinfra")
PROXY = Path(__file__).with_name("apt_proxy.py")
CACHE = Path(os.environ.get("PLAT_TEST_CACHE", "/var/tmp/plat-dev/cache"))
SUITE = "bookworm"
PROXY_PORT = 3142
APT_PROXY_CONF = (f'Acquire::http::Proxy "http://127.0.0.1:{PROXY_PORT}";\n'
                  'Acquire::http::Pipeline-Depth "0";\nAcquire::Retries "3";\n')


def unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses for the suite (deb822 or one-line sources)."""
    texts = [p.read_text() for p in sorted(Path("/etc/apt").glob("sources.list.d/*.sources"))]
    for stanza in "\n\n".join(texts).split("\n\n"):
        fields = dict(line.split(":", 1) for line in stanza.splitlines()
                      if ":" in line and not line.startswith("#"))
        if SUITE in fields.get("Suites", "").split() and "deb" in fields.get("Types", ""):
            return fields["URIs"].split()[0].rstrip("/")
    sources = Path("/etc/apt/sources.list")
    for line in sources.read_text().splitlines() if sources.exists() else []:
        parts = line.split()
        if parts[:1] == ["deb"] and SUITE in parts:
            return next(p for p in parts[1:] if "://" in p).rstrip("/")
    unavailable(f"no apt source for Debian {SUITE} on this machine to debootstrap from")
    raise AssertionError


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Held by one process at a time (xdist workers, or two test runs on one machine)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def debian_tarball() -> Path:
    tarball = CACHE / f"debian-{SUITE}-minbase.tar"
    if tarball.exists():
        return tarball
    with locked(CACHE / "debootstrap.lock"):
        if not tarball.exists():  # another worker made it while this one waited
            _debootstrap(tarball)
    return tarball


def _debootstrap(tarball: Path) -> None:
    if shutil.which("debootstrap") is None:
        unavailable("debootstrap is missing (apt-get install -y debootstrap)")
    CACHE.mkdir(parents=True, exist_ok=True)
    work = CACHE / f"debootstrap-{os.getpid()}"
    try:
        r = subprocess.run(["debootstrap", "--variant=minbase", SUITE, str(work), debian_mirror()],
                           capture_output=True, text=True, timeout=1800)
        if r.returncode != 0:
            unavailable(f"debootstrap failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
        subprocess.run(["tar", "-C", str(work), "-cf", f"{tarball}.part", "."], check=True)
        os.replace(f"{tarball}.part", tarball)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@contextmanager
def apt_archives() -> Iterator[Path]:
    """apt's download directory for one target: hard links to the machine's cached packages,
    and what this target downloads is linked back into the cache afterwards.

    Not the cache itself: apt holds a lock on its download directory for a whole install and
    fails at once ("Could not get lock /var/cache/apt/archives/lock") when another apt holds
    it, and the chroot's playbook runs, the image build and another test run on this machine
    can all install at the same time. A package's file name holds its version, so two files of
    one name are the same file."""
    shared = CACHE / f"apt-archives-{SUITE}"
    shared.mkdir(parents=True, exist_ok=True)
    own = Path(tempfile.mkdtemp(prefix=f"{shared.name}.", dir=CACHE))  # the same file system
    try:
        (own / "partial").mkdir()
        for deb in shared.glob("*.deb"):
            os.link(deb, own / deb.name)
        yield own
        for deb in own.glob("*.deb"):  # complete files only: apt renames them from partial/
            with suppress(FileExistsError):
                os.link(deb, shared / deb.name)
    finally:
        shutil.rmtree(own, ignore_errors=True)


@contextmanager
def mirror_proxy(socket_path: Path, log: Path) -> Iterator[None]:
    """apt_proxy.py's proxy half, on a unix socket, for the mirror's host only."""
    mirror = re.sub(r"^https?://", "", debian_mirror()).split("/")[0]
    proc = subprocess.Popen([sys.executable, str(PROXY), "proxy", str(socket_path), str(log),
                             mirror], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        yield
    finally:
        proc.kill()
        proc.wait()


def build_pyz(dist: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_OFFLINE")}
    r = subprocess.run([str(ROOT / "packaging" / "build-pyz"), "--target", "debian12-amd64",
                        "--out-dir", str(dist)], capture_output=True, text=True, env=env,
                       timeout=900)
    if r.returncode == 4:
        unavailable("build-pyz could not fetch packages:\n" + r.stderr[-2000:])
    assert r.returncode == 0, r.stderr[-4000:]


def shared_pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The debian12-amd64 build, made by the first module of this test run that needs it and
    read by the others (on any xdist worker: they share the parent of their base temp dir).
    build-pyz is reproducible, so one build is what each module would have built itself."""
    base = tmp_path_factory.getbasetemp()
    run = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    dist = run / "plat-pyz"
    with locked(run / "plat-pyz.lock"):
        if not (dist / "plat-debian12-amd64").exists():  # build-pyz writes it atomically
            build_pyz(dist)
    return dist


RESULT_ROW = re.compile(r"^\s+(?P<op>\S.*?)\s{2,}(?P<hosts>\d+)\s+(?P<success>\d+|-)\s+"
                        r"(?P<error>\d+|-)\s+(?P<unchanged>\d+|-)\s*$")


def changed_operations(output: str) -> list[str]:
    """Operations that did something, from pyinfra's closing table (Success vs No Change)."""
    table = output.split("--> Results:", 1)[-1]
    rows = [m for m in map(RESULT_ROW.match, table.splitlines()) if m]
    assert rows, output[-3000:]
    # Operations of an included deploy (network.py) are named "PATH | NAME".
    return [m["op"].split(" | ")[-1] for m in rows
            if m["success"] != "-" and m["op"] != "Grand total"]


@contextmanager
def namespace_with_mirror(name: str, work: Path) -> Iterator[Path]:
    """A network namespace with only loopback, where 127.0.0.1:PROXY_PORT is apt's proxy to
    the mirror. Yields the proxy's log (one line per request that left)."""
    socket_path, log = work / "proxy.sock", work / "proxy.log"
    subprocess.run(["ip", "netns", "add", name], check=True)
    relay: subprocess.Popen[str] | None = None
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        with mirror_proxy(socket_path, log):
            relay = subprocess.Popen(["ip", "netns", "exec", name, sys.executable, str(PROXY),
                                      "relay", str(PROXY_PORT), str(socket_path)],
                                     stdout=subprocess.PIPE, text=True)
            assert relay.stdout is not None
            assert relay.stdout.readline().strip() == "ready"
            yield log
    finally:
        if relay is not None:
            relay.kill()
            relay.wait()
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
