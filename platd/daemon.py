"""One host's daemon, assembled in one place: its parts built in order, each given what it needs.

    data dir ─► store ─► log service ─► ingress controller ─► reconciler (hooks: the collector
    follows containers and drains their last lines; ingress drains instances before stops)
           └─► service context (store, feed, clock, host, secrets, runtime, volumes, images,
               endpoint pools) ─► HTTP app

``assemble(data, boundaries)`` builds a ``Daemon`` from a data directory and the boundaries it
talks to (runtime, registry, builder, volumes, data plane, prober, clock): ``platd serve`` passes
the real ones (``open_daemon``), tests pass fakes, and several daemons (hosts) can live in one
process because nothing is a module global. ``Daemon.run`` runs its root tasks under one
``Supervisor`` until ``stop`` or until a vital one dies. A daemon runs once: start another
``Daemon`` on the same data dir to run it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from platd import certs
from platd.api.app import create_app
from platd.api.context import ApiContext
from platd.clock import Clock, SystemClock
from platd.cluster.node import ClusterNode, NodeSettings
from platd.datadir import DataDir, HostSettings, default_data_dir
from platd.disk import DiskWatch
from platd.feed import Feed
from platd.ingress.controller import IngressController, make_driver
from platd.ingress.driver import IngressDriver
from platd.logs.service import LogService
from platd.reconcile.health import Prober, always_healthy, probe
from platd.reconcile.loop import Hooks, Reconciler
from platd.runtime.base import Runtime
from platd.secrets.crypto import SecretBox
from platd.services.context import Builder, Endpoints, Images, Resolver, ServiceContext
from platd.services.endpoints import probe_host_port
from platd.services.volumes import reattach
from platd.spec.endpoints import Pools, PortProbe
from platd.spec.hlc import HybridLogicalClock
from platd.spec.membership import Membership
from platd.spec.sizes import format_size
from platd.spec.volumes import HostInfo
from platd.store.db import Store, migrate
from platd.supervisor import RootTask, Supervisor
from platd.volumes.backend import VolumeBackend

if TYPE_CHECKING:
    from litestar import Litestar

log = logging.getLogger("platd")
SYNC_WAIT = 30.0  # the longest a cluster member's reconciler waits for its first sync


def secrets_root(host_id: str) -> Path:
    """Instance secret files live on a tmpfs so plaintext never reaches the disk."""
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() else Path("/tmp")
    return base / f"platd-{host_id[-12:]}"


@dataclass(frozen=True)
class Boundaries:
    """What a daemon talks to outside itself. ``volumes`` and ``ingress`` left out are the
    host's own (the loop-device backend if it can have one; the data plane platd.toml names)."""

    runtime: Runtime
    resolve: Resolver
    build: Builder | None = None
    prober: Prober = probe
    clock: Clock = field(default_factory=SystemClock)
    volumes: VolumeBackend | None = None
    ingress: IngressDriver | None = None
    port_probe: PortProbe = probe_host_port
    secrets_root: Path | None = None  # default: a tmpfs directory named after the host


class Daemon:
    """A host's platd: its parts (typed, built by ``assemble``) and the root tasks that run them."""

    def __init__(
        self, *, data: DataDir, settings: HostSettings, clock: Clock, store: Store, feed: Feed,
        runtime: Runtime, volumes: VolumeBackend, logs: LogService, ingress: IngressController,
        reconciler: Reconciler, services: ServiceContext, app: Litestar,
        cluster: ClusterNode | None = None,
    ) -> None:
        self.data = data
        self.settings = settings
        self.clock = clock
        self.store = store
        self.feed = feed
        self.runtime = runtime
        self.volumes = volumes
        self.logs = logs
        self.ingress = ingress
        self.reconciler = reconciler
        self.services = services
        self.app = app
        self.cluster = cluster
        self._supervisor: Supervisor | None = None
        self._stop_requested = False

    @property
    def host_id(self) -> str:
        return self.services.host.id

    @property
    def host_name(self) -> str:
        return self.services.host.name

    def root_tasks(self, http: HttpServer | None = None) -> list[RootTask]:
        """The daemon's long-lived loops, in the order they start (they stop in reverse: the
        HTTP server first, the log service last, after the reconciler's stops drained logs)."""
        tasks = [RootTask("log service", self.logs.run)]
        if self.cluster is not None:
            tasks.append(RootTask("cluster", self.cluster.run))
        tasks += [
            RootTask("reconciler", self._reconcile),
            RootTask("ingress controller", self.ingress.run),
        ]
        if http is not None:
            tasks.append(RootTask("HTTP server", http.run, stop=http.stop))
        return tasks

    async def run(self, http: HttpServer | None = None) -> str | None:
        """Run the root tasks until ``stop`` or until a vital one ends; returns the name of the
        task whose end stopped the daemon (None when it was asked to stop)."""
        if self._supervisor is not None:
            raise RuntimeError("a daemon runs once: assemble another one to run it again")
        # Its followers follow events (services/events.py): other commits wake none of them.
        self.feed.attach(self.store, only=("events",))
        self._supervisor = Supervisor(self.root_tasks(http), on_shutdown=self.close_feeds)
        if self._stop_requested:
            self._supervisor.stop()
        return await self._supervisor.run()

    async def _reconcile(self) -> None:
        """A cluster member converges with a peer before its reconciler acts on what it holds
        (it may have been away: stopping containers on stale state would be wrong). Alone, or
        when no peer answers within SYNC_WAIT, it goes on with what it has (AP: a cut-off host
        keeps working)."""
        if self.cluster is not None:
            try:
                async with asyncio.timeout(SYNC_WAIT):
                    await self.cluster.replicator.synced.wait()
            except TimeoutError:
                log.warning("no peer answered within %.0fs: reconciling with the state this "
                            "host has (gossip fences it if most of the cluster stays away)",
                            SYNC_WAIT)
        await self.reconciler.run()

    def stop(self) -> None:
        """Stop the run (from any thread or a signal handler): long polls answer at once, then
        the HTTP server finishes the requests in flight, then the other tasks stop."""
        self._stop_requested = True
        self.close_feeds()
        if self._supervisor is not None:
            self._supervisor.stop()

    def close_feeds(self) -> None:
        # The server waits for requests in flight before it stops: let the long polls answer
        # now instead of after their minute (platd/feed.py).
        self.feed.close()
        self.logs.feed.close()

    def close(self) -> None:
        """Release the database handles once the run is over."""
        self.store.close()


class HttpServer:
    """uvicorn serving one app on one address, as a root task: ``run`` until ``stop``.

    The daemon handles signals itself (``platd.server``), so uvicorn installs none."""

    def __init__(self, app: Litestar, host: str, port: int,
                 tls: tuple[Path, Path] | None = None) -> None:
        import uvicorn

        from platd.ws_protocol import Protocol

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self):  # type: ignore[no-untyped-def]
                yield

        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", lifespan="off", access_log=False,
            ws=Protocol,  # the console's websocket without deflate (platd.ws_protocol)
            ssl_certfile=str(tls[0]) if tls else None, ssl_keyfile=str(tls[1]) if tls else None,
        )
        self.tls = tls is not None
        self.address = f"{host}:{port}"
        self._server = Server(config)
        self._stopping = False

    @property
    def started(self) -> bool:
        return bool(self._server.started)

    async def run(self) -> None:
        try:
            await self._server.serve()
        except SystemExit:
            # uvicorn exits when it cannot listen; its log line said why.
            raise RuntimeError(f"could not listen on {self.address}") from None
        if not self._stopping:
            raise RuntimeError("the server stopped by itself")

    def stop(self) -> None:
        self._stopping = True
        self._server.should_exit = True

    async def wait_started(self, timeout: float = 30.0) -> None:
        """Until the server listens (for tests that start it on a free port)."""
        async with asyncio.timeout(timeout):
            while not self._server.started:
                await asyncio.sleep(0.005)


def assemble(data: DataDir, boundaries: Boundaries) -> Daemon:
    """Build a daemon on an initialised data dir (``platd init``) and the given boundaries.

    Refuses what ``platd serve`` refuses before it listens: a data dir that was never
    initialised (NotFound) and invalid settings in platd.toml (InvalidInput)."""
    b = boundaries
    host = data.host()
    settings = data.settings()
    disk = DiskWatch(data.path, settings.limits().disk_min_free)
    state = disk.starting()  # on a full disk this frees the ballast before SQLite opens
    if state.full:
        log.warning("the data disk at %s is full (%s free): platd starts, serves reads and "
                    "deletes, and refuses what would add data", data.path,
                    format_size(state.free_bytes))
    migrate(data.state_db)
    clock = b.clock
    store = Store(data.state_db, host["id"],
                  HybridLogicalClock(lambda: int(clock.time() * 1000)))
    store.on_full = disk.release
    store.before_write = disk.state
    try:
        return _assemble(data, settings, host, store, b, disk)
    except BaseException:
        store.close()
        raise


def _assemble(data: DataDir, settings: HostSettings, host: dict[str, object], store: Store,
              b: Boundaries, disk: DiskWatch) -> Daemon:
    clock = b.clock
    feed = Feed()
    box = SecretBox.from_file(data.key_file)
    volumes = b.volumes if b.volumes is not None else _open_volumes(data)
    remounted = reattach(store, clock, volumes)
    if remounted:
        log.info("mounted volumes again: %s", ", ".join(remounted))
    logs = LogService.open(data.logs_db, store, b.runtime, max_age=settings.logs_max_age,
                           max_bytes=settings.logs_max_bytes,
                           max_env_bytes=settings.limits().env_logs_max_bytes)
    driver = b.ingress or make_driver(settings.ingress_driver, data.path / "ingress")
    membership = _membership(data, settings, store)
    ingress = IngressController(
        store, driver, clock, hop_port=settings.hop_port,
        alive=membership.alive_ids if membership is not None else None)
    reconciler = Reconciler(
        store, b.runtime, box, b.secrets_root or secrets_root(store.host_id),
        resync=settings.resync_seconds, clock=clock, prober=b.prober,
        hooks=Hooks(on_observed=logs.collector.observe, before_stop=ingress.drain,
                    before_remove=logs.collector.drain),
        fenced=membership.fenced if membership is not None else None,
        prepare_envs=membership is None,  # a host of its own runs every env's instances
    )
    if membership is not None:
        membership.listeners.append(reconciler.poke)
    services = ServiceContext(
        store=store, feed=feed, clock=clock, membership=membership,
        host=HostInfo(store.host_id, str(host["name"]), dict(settings.labels)),
        box=box, runtime=b.runtime, volumes=volumes,
        images=Images(b.resolve, b.build, settings.registry),
        limits=settings.limits(),
        disk=disk,
        endpoints=Endpoints(
            Pools(ipv6=tuple(settings.ingress_ipv6), ipv4=tuple(settings.ingress_ipv4)),
            b.port_probe, across_hosts=settings.ingress_driver == "haproxy",
        ),
    )
    cluster = _cluster_node(data, settings, host, store, membership)
    app = create_app(ApiContext(services, logs, cluster,
                                device_ttl=float(settings.device_code_seconds),
                                device_interval=float(settings.device_poll_seconds),
                                ca_pem=certs.ca_pem(data.path)))
    return Daemon(
        data=data, settings=settings, clock=clock, store=store, feed=feed, runtime=b.runtime,
        volumes=volumes, logs=logs, ingress=ingress, reconciler=reconciler, services=services,
        app=app, cluster=cluster,
    )


def _membership(data: DataDir, settings: HostSettings, store: Store) -> Membership | None:
    """Gossip's view of the hosts, for placement: only a cluster member has one."""
    from platd.cluster import identity

    if identity.load(data.path) is None:
        return None
    return Membership(store.host_id, float(settings.host_grace_seconds))


def _cluster_node(data: DataDir, settings: HostSettings, host: dict[str, object],
                  store: Store, membership: Membership | None = None) -> ClusterNode | None:
    """This host's membership, if it is in a cluster (``platd init --cluster/--join``)."""
    from platd.cluster import identity

    ident = identity.load(data.path)
    if ident is None:
        return None
    labels = dict(settings.labels)
    return ClusterNode(data.path, ident, store, host, NodeSettings(
        gossip_bind=settings.gossip_bind or "0.0.0.0:7946",
        api_url=settings.api_url or "http://127.0.0.1:7400",
        region=labels.get("region", ""), labels=labels,
        interval=float(settings.anti_entropy_seconds),
        rpc_addr=settings.serf_rpc or "127.0.0.1:7373",
    ), membership=membership)


def _open_volumes(data: DataDir) -> VolumeBackend:
    """Sized volumes (docs/volumes.md): the backend this host can have."""
    from platd.volumes import open_backend

    backend = open_backend(data.path)
    if backend.unavailable:
        log.warning("sized volumes are unavailable on this host: %s", backend.unavailable)
    return backend


# --- the boundaries of `platd serve` ------------------------------------------------------------


def docker_boundaries(docker_url: str | None = None,
                      settings: HostSettings | None = None) -> Boundaries:
    """The Docker engine runs containers and builds images; registries pin tags."""
    from platd.runtime.docker import DockerRuntime
    from platd.runtime.registry import check_allowed, resolve_digest

    settings = settings or HostSettings()
    docker = DockerRuntime(docker_url, network_pool=settings.instance_network_pool,
                           pids_limit=settings.pids_limit)
    allowed = settings.registries

    async def resolve(reference: str) -> str:
        check_allowed(reference, allowed)  # before any connection (docs/operations.md)
        return await resolve_digest(reference)

    return Boundaries(runtime=docker, resolve=resolve, build=docker.build_and_push)


def fake_boundaries(data: DataDir, clock: Clock | None = None) -> Boundaries:
    """The in-memory runtime (``platd serve --runtime fake``: demos and UI tests): every image
    reference exists, pinned to a digest derived from its name; instances are always healthy."""
    from platd.runtime.fake import FakeRuntime

    # Its registry outlives the process, as a real one would: what earlier releases pinned
    # can be pulled again after a restart (the fake's instances are gone and recreated). In a
    # cluster it is shared, as a real one is: what any host's release pinned (replicated
    # releases) can be pulled here.
    fake = FakeRuntime(())
    fake.images = _SharedRegistry(data.state_db)

    async def resolve(reference: str) -> str:
        digest = hashlib.sha256(reference.encode()).hexdigest()
        pinned = (reference if "@" in reference
                  else f"{reference.rsplit(':', 1)[0]}@sha256:{digest}")
        fake.images.add(pinned)
        return pinned

    return Boundaries(runtime=fake, resolve=resolve, prober=always_healthy,
                      clock=clock or SystemClock())


class _SharedRegistry(set[str]):
    """The fake's registry: what it was given, and every image a release in the state pins."""

    def __init__(self, state_db: Path) -> None:
        super().__init__(_pinned_images(state_db))
        self._db = state_db

    def __contains__(self, image: object) -> bool:
        return super().__contains__(image) or image in _pinned_images(self._db)


def _pinned_images(state_db: Path) -> set[str]:
    """Every image a release of this host pinned (empty before the first migration)."""
    if not state_db.exists():
        return set()
    conn = sqlite3.connect(state_db)
    try:
        rows = conn.execute("SELECT images_json FROM releases").fetchall()
    except sqlite3.OperationalError:  # not migrated yet: no releases
        return set()
    finally:
        conn.close()
    return {image for (raw,) in rows for image in json.loads(raw).values()}


def open_daemon(data_path: Path | None, *, runtime: str = "docker",
                docker_url: str | None = None) -> Daemon:
    """The daemon ``platd serve`` runs: the data dir (default: $PLAT_DATA or the standard
    place) with the real boundaries, or the fake runtime (``runtime="fake"``)."""
    data = DataDir((data_path or default_data_dir()).resolve())
    fake = runtime == "fake"
    if data.exists():
        # Before anything opens a database (the fake runtime reads state.db): on a disk with
        # nothing free, SQLite cannot even read until the ballast is given back.
        DiskWatch(data.path, data.settings().limits().disk_min_free).starting()
    if fake:
        return assemble(data, fake_boundaries(data))
    return assemble(data, docker_boundaries(docker_url, data.settings()))
