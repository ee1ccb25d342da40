"""Fixtures shared by every test level: a real platd process and the real plat program.

``Daemon`` starts ``platd serve`` as a subprocess on a free loopback port with its own data
directory, waits until ``/v1/health`` answers, and stops it afterwards; ``daemon.plat(...)``
runs the real ``plat`` executable against it with an isolated config directory. Its data
directory is made the way ``platd init`` makes it, in this process (a second interpreter start
per daemon is not what these tests are about; ``tests/api/test_real_platd.py`` runs the real
``platd init``). Daemons that need no process of their own live in ``tests/daemon_support.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PLAT = str(BIN / "plat")
PLATD = str(BIN / "platd")

# Tests interrupt `plat` subprocesses with SIGINT, as Ctrl-C would. A pytest started in the
# background of a non-interactive shell (`scripts/test ... &`, nohup) inherits SIGINT ignored,
# and every child would too: Ctrl-C tests would then hang instead of testing the CLI. A handler
# here (not SIG_IGN) is reset to the default in each child at exec.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_responsive(
    url: str, timeout: float = 60.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"platd exited with {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class Daemon:
    data: Path
    config_dir: Path
    runtime: str = "fake"
    port: int = field(default_factory=free_port)
    token: str = ""
    host_id: str = ""
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    docker_url: str | None = None  # --docker-url (default: the engine's own socket)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def init(self) -> None:
        """What ``platd init --data DATA`` does."""
        from platd.clock import SystemClock
        from platd.datadir import DataDir
        from platd.secrets.crypto import create_key_file
        from platd.services.tokens import create_admin_token
        from platd.store.db import Store, migrate

        data = DataDir(self.data.resolve())
        host = data.create(None)
        migrate(data.state_db)
        create_key_file(data.key_file)
        store = Store(data.state_db, host["id"])
        try:
            self.token = create_admin_token(store, SystemClock())
        finally:
            store.close()
        self.host_id = str(host["id"])

    def start(self) -> None:
        self.log_path = self.data.parent / f"platd-{self.port}.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [
                PLATD,
                "serve",
                "--data",
                str(self.data),
                "--listen",
                f"127.0.0.1:{self.port}",
                "--runtime",
                self.runtime,
                *(["--docker-url", self.docker_url] if self.docker_url else []),
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        wait_until_responsive(f"{self.url}/v1/health", proc=self.proc)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill9(self) -> None:
        self.stop(signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""

    def env(self, token: str | None = None, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PLAT_")}
        env.update(
            PLAT_API=self.url,
            PLAT_TOKEN=token if token is not None else self.token,
            PLAT_CONFIG_DIR=str(self.config_dir),
        )
        env.update(extra)
        return env

    def plat(
        self,
        *args: str,
        token: str | None = None,
        cwd: Path | None = None,
        input: str | None = None,
        timeout: float = 120,
        **extra: str,
    ) -> Result:
        proc = subprocess.run(
            [PLAT, *args],
            capture_output=True,
            text=True,
            input=input,
            env=self.env(token, **extra),
            cwd=cwd,
            timeout=timeout,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def api(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        """A raw HTTP call, for tests of the API itself."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        tok = self.token if token is None else token
        if tok:
            req.add_header("Authorization", f"Bearer {tok}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            raw = e.read()
            return e.code, json.loads(raw) if raw else None

    def make_env(self, path: str = "acme/shop/hello/prod") -> str:
        """Create the org/project/app/env tree for ``path`` with the admin token."""
        parts = path.split("/")
        for depth, plural in enumerate(("orgs", "projects", "apps", "envs"), start=1):
            r = self.plat(plural, "create", "/".join(parts[:depth]))
            assert r.code in (0, 5), r.err
        return path


def _daemon(tmp_path: Path, runtime: str) -> Iterator[Daemon]:
    d = Daemon(data=tmp_path / "data", config_dir=tmp_path / "config", runtime=runtime)
    d.init()
    d.start()
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    """A real platd on loopback with the in-memory fake runtime."""
    yield from _daemon(tmp_path, "fake")


@pytest.fixture
def docker_daemon(tmp_path: Path, docker_services: None) -> Iterator[Daemon]:
    """A real platd driving the real Docker engine; its containers are removed afterwards."""
    gen = _daemon(tmp_path, "docker")
    d = next(gen)
    try:
        yield d
    finally:
        with contextlib.suppress(StopIteration):
            next(gen)
        _remove_containers(d.host_id)
        _remove_env_networks(d.data)


def _remove_env_networks(data: Path) -> None:
    """The networks of this daemon's envs that no container uses (a host of its own makes an
    env's network when the env is created, before anything runs in it)."""
    import sqlite3

    db = data / "state.db"
    if not db.exists():
        return
    with contextlib.closing(sqlite3.connect(db)) as conn:
        env_ids = [row[0] for row in conn.execute("SELECT id FROM envs")]
    for env in env_ids:
        left = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=dev.plat.env={env}"],
                              capture_output=True, text=True).stdout.split()
        if not left:
            subprocess.run(["docker", "network", "rm", f"plat-env-{env}"], capture_output=True)


def _remove_containers(host_id: str) -> None:
    if not host_id:
        return
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=dev.plat.host={host_id}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    if ids:
        envs = set(subprocess.run(
            ["docker", "inspect", "-f", '{{index .Config.Labels "dev.plat.env"}}', *ids],
            capture_output=True, text=True,
        ).stdout.split())
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
        # Each env's network goes with the env's last container (as platd itself does).
        for env in envs:
            left = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=dev.plat.env={env}"],
                                  capture_output=True, text=True).stdout.split()
            if not left:
                subprocess.run(["docker", "network", "rm", f"plat-env-{env}"],
                               capture_output=True)


@pytest.fixture(scope="session")
def docker_services() -> None:
    """The Docker engine and the local registry (scripts/dev-services starts both)."""
    problems = []
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        problems.append("the Docker engine does not answer")
    try:
        urllib.request.urlopen("http://127.0.0.1:5000/v2/", timeout=2).close()
    except OSError:
        problems.append("no registry answers on 127.0.0.1:5000")
    if problems:
        message = "; ".join(problems) + " (run scripts/dev-services)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


DOCKER_FIXTURES = frozenset({"docker_services", "docker_daemon", "docker_vdaemon"})


# The modules that run the playbooks against real targets take minutes each (two SSH hosts
# bootstrapped, a debootstrapped root, a systemd container): queued first, they run beside the
# short tests on the other worker instead of being the run's tail. scripts/test keeps a file on
# one worker in this order (--dist loadfile --no-loadscope-reorder).
LONGEST_FIRST = ("tests/playbooks/test_hosts_add.py", "tests/playbooks/test_chroot.py",
                 "tests/playbooks/test_systemd_container.py")


def _queue_rank(item: pytest.Item) -> int:
    path = item.nodeid.split("::", 1)[0]
    return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that reaches the Docker engine through a fixture must carry ``docker``:
    scripts/test runs those in their own pass, and ``-m "not docker"`` must mean what it says.
    Then the longest modules go first (a stable sort: the order inside a module stays)."""
    items.sort(key=_queue_rank)
    unmarked = [item.nodeid for item in items
                if DOCKER_FIXTURES & set(getattr(item, "fixturenames", ()))
                and item.get_closest_marker("docker") is None]
    if unmarked:
        raise pytest.UsageError(
            "these tests use the Docker engine but are not marked @pytest.mark.docker: "
            + ", ".join(unmarked[:10]) + (" ..." if len(unmarked) > 10 else ""))


# Property tests run on a shared 2-core CI machine: a slow example is load, not a bug.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("plat", deadline=None)
_hypothesis_settings.load_profile("plat")
