"""What the API and CLI test helpers share: daemons to test against, and unique names.

Two kinds of daemon, with the same face (``token``, ``host_id``, ``data``, ``api``, ``plat``):

- ``Daemon`` (from ``tests/conftest.py``) is a real ``platd serve`` subprocess: for what only
  the real process shows (signals, a restart, its log, the single-file executable).
- ``LocalDaemon`` is a ``platd.daemon.Daemon`` assembled in the test process by ``Hosts``, on
  its own temp data dir with its own host id, with the fake runtime (and, unless asked, the fake
  data plane). Its API answers through Litestar's test client, without a socket; with
  ``http=True`` it also listens on a loopback port, so the real ``plat`` program can talk to it.
  Several of them (hosts) live on one event loop, which is what cluster tests need.

Each test module usually shares one daemon and every test works in an org of its own, which
keeps tests independent without a daemon each. ``tests/conftest.py`` is loaded by path because
pytest does not make conftest modules importable.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import itertools
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
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
Daemon, Result, free_port = _shared.Daemon, _shared.Result, _shared.free_port
PLAT, PLATD = _shared.PLAT, _shared.PLATD
_names = itertools.count(1)


def unique(prefix: str = "t") -> str:
    """A valid resource name that no other test of this session uses."""
    return f"{prefix}{next(_names)}"


def start_daemon(tmp: Path, settings: str = "") -> Any:
    """What ``platd serve --runtime fake`` runs, in this process, listening on a loopback port
    (the real ``plat`` talks to it) with this host's own data plane and volumes; ``settings``
    is its platd.toml."""
    hosts = Hosts(tmp)
    # Named as platd init names a host.
    d = hosts.add(socket.gethostname(), http=True, ingress="host", settings=settings)
    d.hosts = hosts
    return d


def start_real_daemon(tmp: Path) -> Any:
    """A real ``platd serve --runtime fake`` subprocess, for what only the process shows."""
    d = Daemon(data=tmp / "data", config_dir=tmp / "config")
    d.init()
    d.start()
    return d


def stop_daemon(d: Any) -> None:
    """Stop a daemon of ``start_daemon`` or ``start_real_daemon``."""
    from platd.daemon import secrets_root

    if getattr(d, "in_process", False):
        d.hosts.close()
        return
    d.stop()
    # The fake runtime's instances die with the daemon; their secret files on tmpfs do not.
    if d.host_id:
        shutil.rmtree(secrets_root(d.host_id), ignore_errors=True)


# --- daemons in this process -------------------------------------------------------------------


def service_context(store: Any, *, clock: Any = None, box: Any = None, runtime: Any = None,
                    volumes: Any = None, name: str = "test") -> Any:
    """A ``ServiceContext`` over ``store`` for tests that call use cases directly: the fake
    runtime and directory volumes unless given, images pinned from their names."""
    from platd.clock import SystemClock
    from platd.runtime.fake import FakeRuntime
    from platd.secrets.crypto import SecretBox
    from platd.services.context import Endpoints, Images, ServiceContext
    from platd.spec.volumes import HostInfo
    from platd.volumes.fake import FakeBackend

    data = Path(store.path).parent
    key = data / "secret.key"

    async def resolve(reference: str) -> str:
        return reference

    return ServiceContext(
        store=store, feed=_feed(), clock=clock or SystemClock(),
        host=HostInfo(store.host_id, name, {"region": "local"}),
        box=box or (SecretBox.from_file(key) if key.exists() else SecretBox(os.urandom(32))),
        runtime=runtime or FakeRuntime(), volumes=volumes or FakeBackend(data),
        images=Images(resolve), endpoints=Endpoints(),
    )


def _feed() -> Any:
    from platd.feed import Feed

    return Feed()


def init_host(data: Path, name: str = "test", settings: str = "") -> tuple[str, str]:
    """What ``platd init`` does, in this process: (host id, admin token)."""
    from platd.clock import SystemClock
    from platd.datadir import DataDir
    from platd.secrets.crypto import create_key_file
    from platd.services.tokens import create_admin_token
    from platd.store.db import Store, migrate

    datadir = DataDir(data)
    host = datadir.create(name)
    migrate(datadir.state_db)
    create_key_file(datadir.key_file)
    if settings:
        datadir.settings_file.write_text(settings)
    store = Store(datadir.state_db, host["id"])
    try:
        return str(host["id"]), create_admin_token(store, SystemClock())
    finally:
        store.close()


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"  # as platd serve logs


@dataclass
class LocalDaemon:
    """One daemon assembled in this process, with the face of the subprocess ``Daemon``.

    ``stop`` and ``start`` restart it as a new process would: a fresh ``platd.daemon.Daemon`` on
    the same data dir and port, its fake runtime empty again (instances are recreated from the
    releases). What it logs while it runs goes to ``log_path`` (every logger of this process,
    at INFO, as ``platd serve`` writes its log)."""

    build: Callable[[], Any]  # () -> platd.daemon.Daemon
    host_id: str
    data: Path
    token: str
    config_dir: Path
    secrets_root: Path
    portal: Any  # anyio BlockingPortal: the loop the daemon runs on
    log_path: Path
    listen: bool = False
    port: int = 0
    daemon: Any = None  # the platd.daemon.Daemon of the current run
    http: Any = None  # its platd.daemon.HttpServer when it listens
    ended: list[str | None] = field(default_factory=list)
    hosts: Any = None  # the Hosts it belongs to, when start_daemon made it
    retired: list[Any] = field(default_factory=list)  # daemons of earlier runs, to close
    in_process = True
    _run: Future[Any] | None = None
    _client: Any = None
    _log_handler: logging.Handler | None = None

    @property
    def url(self) -> str:
        assert self.port, "this daemon does not listen: add it with http=True"
        return f"http://127.0.0.1:{self.port}"

    @property
    def runtime(self) -> Any:
        """The fake runtime: crash containers, fail calls, look at what ran."""
        return self.daemon.runtime

    @property
    def running(self) -> Future[Any] | None:
        """The daemon's run on the portal's loop (done once it stopped or died)."""
        return self._run

    @property
    def client(self) -> Any:
        """Litestar's test client on this daemon's app, on the daemon's own event loop."""
        if self._client is None:
            from litestar.testing import TestClient

            client = TestClient(self.daemon.app, base_url="http://testserver.local")
            client.blocking_portal = self.portal  # no lifespan: the supervisor runs the tasks
            self._client = client
        return self._client

    def start(self) -> None:
        assert self._run is None, "already running"
        if self.daemon is None:
            self.daemon = self.build()
        self._capture_log()
        if self.listen:
            from platd.daemon import HttpServer

            self.port = self.port or free_port()
            self.http = HttpServer(self.daemon.app, "127.0.0.1", self.port)
        self._run = self.portal.start_task_soon(self._serve)
        if self.http is not None:
            self.portal.call(self.http.wait_started)

    async def _serve(self) -> None:
        self.ended.append(await self.daemon.run(self.http))

    def stop(self) -> None:
        """Stop it as SIGTERM would; ``start`` then runs it again, like a new process."""
        if self._run is None:
            return
        self.daemon.stop()
        self._run.result(timeout=60)
        self._run = None
        # Its database handles are closed only once the loop is gone (``Hosts.close``): a worker
        # thread of a task cancelled on the way out may still be inside a transaction, and
        # closing a connection under it crashes the interpreter. platd serve closes them after
        # asyncio.run, which waits for those threads, for the same reason.
        self.retired.append(self.daemon)
        self.daemon = self.http = self._client = None
        if self._log_handler is not None:
            logging.getLogger().removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None

    def kill9(self) -> None:
        raise NotImplementedError(
            "an in-process daemon cannot be killed; use the subprocess Daemon (the `daemon` "
            "fixture) for what only a real process shows")

    def _capture_log(self) -> None:
        handler = logging.FileHandler(self.log_path)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.setLevel(logging.INFO)
        logging.getLogger().addHandler(handler)
        logging.getLogger("platd").setLevel(logging.INFO)
        self._log_handler = handler

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def call(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` (a coroutine function) on the daemon's loop and return its result."""
        return self.portal.call(fn, *args)

    def request(self, method: str, path: str, *, content: bytes | None = None,
                token: str | None = None, headers: dict[str, str] | None = None) -> Any:
        """One request with ``content`` sent byte for byte; the httpx response."""
        sent = {"Accept": "application/json"}
        tok = self.token if token is None else token
        if tok:
            sent["Authorization"] = f"Bearer {tok}"
        if content is not None:
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        return self.client.request(method, path, content=content, headers=sent)

    def api(self, method: str, path: str, body: Any = None,
            token: str | None = None) -> tuple[int, Any]:
        """A JSON call, as ``Daemon.api`` makes it over a socket."""
        data = json.dumps(body).encode() if body is not None else None
        response = self.request(method, path, content=data, token=token)
        raw = response.content
        return response.status_code, json.loads(raw) if raw else None

    def env(self, token: str | None = None, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PLAT_")}
        env.update(PLAT_API=self.url, PLAT_TOKEN=token if token is not None else self.token,
                   PLAT_CONFIG_DIR=str(self.config_dir))
        env.update(extra)
        return env

    def plat(self, *args: str, token: str | None = None, cwd: Path | None = None,
             input: str | None = None, timeout: float = 120, **extra: str) -> Any:
        """The real ``plat`` program against this daemon (it must listen: ``http=True``)."""
        proc = subprocess.run([PLAT, *args], capture_output=True, text=True, input=input,
                              env=self.env(token, **extra), cwd=cwd, timeout=timeout)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def make_env(self, path: str = "acme/shop/hello/prod") -> str:
        return make_env(self, path)


class Hosts:
    """Daemons (hosts) in this process, on one event loop, each on a data dir of its own.

    ``add`` builds one the way ``platd init`` and ``platd serve --runtime fake`` would, with the
    boundaries a test asks for; ``close`` stops every one of them."""

    def __init__(self, tmp: Path) -> None:
        from anyio.from_thread import start_blocking_portal

        self.tmp = tmp
        self._stack = contextlib.ExitStack()
        self.portal = self._stack.enter_context(start_blocking_portal("asyncio"))
        self.daemons: list[LocalDaemon] = []

    def add(self, name: str = "host", *, http: bool = False, settings: str = "",
            ingress: str = "fake", volumes: Callable[[Path], Any] | None = None,
            clock: Any = None, start: bool = True) -> LocalDaemon:
        """A new host. ``ingress="fake"`` records the data plane's configs; "host" uses the
        one platd.toml names (the built-in proxy unless it says haproxy). ``volumes`` makes
        the volume backend from the data dir (default: what this machine can have, as
        ``platd serve`` does). ``clock`` None is the wall clock."""
        root = self.tmp / f"{name}-{len(self.daemons)}"
        data_path, secrets = root / "data", root / "secrets"
        host_id, token = init_host(data_path, name, settings)

        def build() -> Any:
            return _assemble(data_path, secrets, ingress=ingress, volumes=volumes, clock=clock)

        local = LocalDaemon(build=build, host_id=host_id, data=data_path, token=token,
                            config_dir=root / "config",
                            secrets_root=secrets, portal=self.portal,
                            log_path=root / "platd.log", listen=http)
        self.daemons.append(local)
        if start:
            local.start()
        return local

    def close(self) -> None:
        for d in reversed(self.daemons):
            d.stop()
        self._stack.close()  # ends the loop, once its worker threads finished
        for d in self.daemons:
            for daemon in d.retired:
                daemon.close()


def _assemble(data_path: Path, secrets: Path, *, ingress: str,
              volumes: Callable[[Path], Any] | None, clock: Any) -> Any:
    from platd.daemon import assemble, fake_boundaries
    from platd.datadir import DataDir
    from platd.ingress.driver import FakeDriver

    data = DataDir(data_path)
    boundaries = dataclasses.replace(
        fake_boundaries(data, clock), secrets_root=secrets,
        volumes=volumes(data_path) if volumes is not None else None,
        ingress=FakeDriver() if ingress == "fake" else None,
    )
    with warnings.catch_warnings():
        # Litestar 2.25 warns about every inferred path and query parameter when the app is
        # built (they are to be spelled FromPath/FromQuery for Litestar 3); platd serve does not
        # show them either.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="litestar")
        warnings.filterwarnings("ignore", message=".*(inferred|Reserved kwarg).*")
        return assemble(data, boundaries)


@contextlib.contextmanager
def hosts_in(tmp: Path) -> Iterator[Hosts]:
    hosts = Hosts(tmp)
    try:
        yield hosts
    finally:
        hosts.close()


@contextlib.contextmanager
def local_daemon(tmp: Path, **kw: Any) -> Iterator[LocalDaemon]:
    """One in-process daemon (``Hosts.add``'s options), stopped afterwards."""
    with hosts_in(tmp) as hosts:
        yield hosts.add(**kw)


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
