"""Assembling a running daemon: open the data dir, build the context, serve HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sys
from pathlib import Path
from types import FrameType

from platd.api.context import DaemonContext
from platd.datadir import DataDir, default_data_dir
from platd.reconcile.health import always_healthy, probe
from platd.reconcile.loop import Reconciler
from platd.runtime.base import Runtime
from platd.secrets.crypto import SecretBox
from platd.store.db import Store, migrate

log = logging.getLogger("platd")


def secrets_root(host_id: str) -> Path:
    """Instance secret files live on a tmpfs so plaintext never reaches the disk."""
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() else Path("/tmp")
    return base / f"platd-{host_id[-12:]}"


def _pinned_images(store: Store) -> set[str]:
    import json

    from sqlmodel import select

    from platd.store.models import Release

    with store.read() as session:
        rows = session.exec(select(Release.images_json)).all()
    return {image for row in rows for image in json.loads(row).values()}


def build_context(
    data_path: Path | None, runtime_kind: str = "docker", docker_url: str | None = None
) -> DaemonContext:
    data = DataDir((data_path or default_data_dir()).resolve())
    host = data.host()
    migrate(data.state_db)
    settings = data.settings()
    store = Store(data.state_db, host["id"])
    box = SecretBox.from_file(data.key_file)
    runtime: Runtime
    if runtime_kind == "fake":
        from platd.runtime.fake import FakeRuntime

        # Its registry outlives the process, as a real one would: what earlier releases pinned
        # can be pulled again after a restart (the fake's instances are gone and recreated).
        fake = FakeRuntime(_pinned_images(store))
        runtime = fake

        async def resolve(reference: str, *, timeout: float = 0.0) -> str:
            ref = reference
            # Every reference "exists": pin it to a digest derived from its name.
            digest = hashlib.sha256(ref.encode()).hexdigest()
            pinned = ref if "@" in ref else f"{ref.rsplit(':', 1)[0]}@sha256:{digest}"
            fake.images.add(pinned)
            return pinned

        builder = None
    else:
        from platd.runtime.docker import DockerRuntime
        from platd.runtime.registry import resolve_digest

        docker = DockerRuntime(docker_url)
        runtime = docker
        resolve = resolve_digest
        builder = docker.build_and_push
    ctx = DaemonContext(
        data=data,
        store=store,
        box=box,
        settings=settings,
        host=host,
        resolve_image=resolve,
        build_image=builder,
    )
    _open_volumes(ctx)
    ctx.reconciler = Reconciler(
        store,
        runtime,
        box,
        secrets_root(host["id"]),
        resync=settings.resync_seconds,
        prober=always_healthy if runtime_kind == "fake" else probe,
    )
    from platd.logs import LogService

    ctx.logs = LogService.open(
        data.logs_db,
        store,
        runtime,
        max_age=settings.logs_max_age,
        max_bytes=settings.logs_max_bytes,
    )
    ctx.reconciler.on_observed = ctx.logs.collector.observe
    ctx.reconciler.executor.before_remove = ctx.logs.collector.drain
    from platd.ingress.controller import IngressController, make_driver
    from platd.services import endpoints as endpoint_service

    endpoint_service.configure(
        endpoint_service.Pools(ipv6=tuple(settings.ingress_ipv6), ipv4=tuple(settings.ingress_ipv4))
    )
    ctx.ingress = IngressController(
        store, make_driver(settings.ingress_driver, data.path / "ingress")
    )
    ctx.reconciler.executor.before_stop = ctx.ingress.drain
    ctx.cluster = _cluster_node(data, store, host, settings)
    return ctx


def _cluster_node(data: DataDir, store: Store, host: dict[str, object],
                  settings: object) -> object:
    """This host's membership, if it is in a cluster (``platd init --cluster/--join``)."""
    from platd.cluster import identity

    ident = identity.load(data.path)
    if ident is None:
        return None
    from platd.cluster.node import ClusterNode, NodeSettings

    labels = dict(getattr(settings, "labels", {}))
    node_settings = NodeSettings(
        gossip_bind=getattr(settings, "gossip_bind", "") or "0.0.0.0:7946",
        api_url=getattr(settings, "api_url", "") or "http://127.0.0.1:7400",
        region=labels.get("region", ""), labels=labels,
        interval=float(getattr(settings, "anti_entropy_seconds", 10.0)),
        rpc_addr=getattr(settings, "serf_rpc", "") or "127.0.0.1:7373",
    )
    return ClusterNode(data.path, ident, store, host, node_settings)


def _open_volumes(ctx: DaemonContext) -> None:
    """Sized volumes (docs/volumes.md): the backend this host can have; remount after restarts."""
    from platd.services.volumes import reattach
    from platd.volumes import open_backend

    ctx.volumes = open_backend(ctx.data.path)
    if ctx.volumes.unavailable:
        log.warning("sized volumes are unavailable on this host: %s", ctx.volumes.unavailable)
    remounted = reattach(ctx.store, ctx.volumes)
    if remounted:
        log.info("mounted volumes again: %s", ", ".join(remounted))


def serve(
    data_path: Path | None,
    host: str,
    port: int,
    *,
    runtime: str = "docker",
    docker_url: str | None = None,
) -> int:
    import uvicorn

    from platd.api.app import create_app

    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    ctx = build_context(data_path, runtime, docker_url)
    app = create_app(ctx)
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="on", access_log=False
    )

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # The server waits for requests in flight before it stops: let the long polls
            # answer now instead of after their minute (platd/feed.py).
            ctx.feed.close()
            if ctx.logs is not None:
                ctx.logs.feed.close()
            super().handle_exit(sig, frame)

    server = Server(config)
    log.info("platd %s serving on %s:%d (data %s)", ctx.host["name"], host, port, ctx.data.path)
    asyncio.run(server.serve())
    ctx.store.close()
    from platd.api.app import RECONCILER_DIED

    if RECONCILER_DIED.is_set():
        return 1
    return 0 if server.started else 1
