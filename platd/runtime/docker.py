"""The real runtime: the local Docker Engine through aiodocker.

This module and ``docker_shapes`` (the pure translation of an ``InstanceSpec`` into a container
config and of inspect and event JSON back into ``ObservedContainer`` and ``RuntimeEvent``) are the
only ones that know Docker's shapes, so nothing above them parses engine data. Every aiodocker
failure is translated here into ``RuntimeError_`` with a message that names the container or
image, so the reconciler records errors people can act on and never sees aiodocker's exception
types.

Choices worth knowing:
- No Docker restart policy: plat restarts crashed instances itself, with backoff, and records each
  crash; an engine restarting containers behind its back would hide them.
- Files and volumes are attached as bind *mounts*, not ``Binds``: a missing source then fails the
  create loudly instead of Docker silently creating an empty directory where a secret file
  should be.
- Ports are published on 127.0.0.1 only; exposure beyond the host is the ingress layer's job.
- Each env's containers join the env's own bridge network (``docker_networks``), never Docker's
  default bridge, so instances of different envs and orgs cannot reach each other.
- A container this runtime is stopping or removing is not inspected by a listing: the engine
  holds the container's lock while it stops it and tears its network down, and an inspection
  waits for that (measured: 80-280 ms), holding up the whole pass and the rollout in it. Its
  last inspection, with the state the listing reports, stands in for it (``listed``).
- Nor is a running container inspected again within ``REUSE_INSPECTION`` seconds of an
  inspection that found it running, unless the engine reported its die, kill, stop, OOM or
  destroy since (or this runtime started, stopped or removed it): what only an inspection tells
  (start time, exit code, OOM, memory limit) changes only after one of those, and the listing
  gives state, addresses and ports. A rollout's passes follow one another closely; each
  inspection was one more engine round trip before the pass could plan (3-5 ms each on a quiet
  machine, tens under load).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import math
import shlex
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import aiodocker
import aiohttp
from aiodocker.exceptions import DockerError

from platd.hints import engine_hint
from platd.runtime.base import (
    LABELS,
    HostCapacity,
    ImageMissing,
    InstanceSpec,
    LogBatch,
    ObservedContainer,
    RuntimeError_,
    RuntimeEvent,
)
from platd.runtime.docker_exec import DockerExecSession, demultiplex
from platd.runtime.docker_networks import DEFAULT_POOL, DEFAULT_PREFIX, EnvNetworks
from platd.runtime.docker_shapes import (
    DEFAULT_PIDS_LIMIT,
    container_config,
    listed,
    observe,
    to_event,
)
from platd.runtime.registry import parse_reference, resolve_digest
from platd.spec.errors import ImageError

if TYPE_CHECKING:
    from platd.runtime.base import Runtime

__all__ = ["DEFAULT_PIDS_LIMIT", "EVENT_ACTIONS", "DockerRuntime"]

EVENT_ACTIONS = ("start", "die", "oom", "destroy", "stop", "kill")
REUSE_INSPECTION = 5.0  # seconds; one periodic resync of the reconciler


class DockerRuntime:
    """``Runtime`` on a Docker Engine; ``url`` as aiodocker takes it (default: the local socket)."""

    def __init__(self, url: str | None = None, *, network_pool: str = DEFAULT_POOL,
                 network_prefix: int = DEFAULT_PREFIX, pids_limit: int = DEFAULT_PIDS_LIMIT
                 ) -> None:
        self._url = url
        self._pids_limit = pids_limit
        self._pruned = False
        self._docker: aiodocker.Docker | None = None
        # Stops and removes in flight, per container id; the last inspection of each container.
        self._busy: dict[str, int] = {}
        self._seen: dict[str, ObservedContainer] = {}
        # Until when (monotonic) each container's last inspection may stand in for a new one;
        # and, per container, the number of the last event of it (events counted from 1).
        self._reusable: dict[str, float] = {}
        self._events_seen = 0
        self._touched: dict[str, int] = {}
        self.networks = EnvNetworks(self._client, network_pool, network_prefix)

    def _client(self) -> aiodocker.Docker:
        # Created on first use, inside the event loop that will use it (aiohttp binds to it).
        if self._docker is None:
            try:
                self._docker = aiodocker.Docker(url=self._url)
            except (AssertionError, ValueError, DockerError) as exc:
                message = f"no Docker engine socket found ({exc}); {engine_hint()}"
                raise RuntimeError_(message) from exc
        return self._docker

    async def close(self) -> None:
        await self.networks.close()
        if self._docker is not None:
            docker, self._docker = self._docker, None
            await docker.close()

    # --- observing ---------------------------------------------------------------------------

    async def list_instances(self, host_id: str) -> list[ObservedContainer]:
        filters = {"label": [f"{LABELS['managed']}=1", f"{LABELS['host']}={host_id}"]}
        try:
            found = await self._client().containers.list(all=True, filters=json.dumps(filters))
        except (DockerError, aiohttp.ClientError) as exc:
            raise _error(exc, "listing plat containers") from exc
        if not self._pruned:
            # Once per daemon run: networks whose containers went meanwhile go, and containers
            # an older platd left on the default bridge move to their env's network.
            await self.networks.prune()
            for c in found:
                labels = c["Labels"] or {}
                networks = (c._container.get("NetworkSettings") or {}).get("Networks") or {}
                if labels.get(LABELS["env"]):
                    await self.networks.adopt(c.id, labels[LABELS["env"]],
                                              labels.get(LABELS["workload"], ""), networks)
            self._pruned = True
        listed_ids = {c.id for c in found}
        for gone in self._seen.keys() - listed_ids:
            del self._seen[gone]
        for gone in self._touched.keys() - listed_ids:
            del self._touched[gone]
        # The list endpoint lacks exit codes, OOM and times; inspect each (gone ones drop out),
        # except those being stopped or removed and those inspected running a moment ago
        # (see the module docstring).
        now = time.monotonic()
        observed = await asyncio.gather(*(
            _as_awaitable(listed(c._container, self._seen.get(c.id)))
            if c.id in self._busy or self._reuse(c.id, c._container, now)
            else self.inspect(c.id)
            for c in found))
        return sorted(
            (o for o in observed if o is not None), key=lambda o: (o.workload, o.instance_id)
        )

    def _reuse(self, container_id: str, entry: Mapping[str, object], now: float) -> bool:
        """Whether the last inspection of a listed container stands in for a new one."""
        last = self._seen.get(container_id)
        return (last is not None and last.state == "running" and entry.get("State") == "running"
                and self._reusable.get(container_id, 0.0) > now)

    def _touch(self, container_id: str) -> None:
        """Something happened to the container: its next listing inspects it."""
        self._events_seen += 1
        self._touched[container_id] = self._events_seen
        self._reusable.pop(container_id, None)

    async def inspect(self, container_id: str) -> ObservedContainer | None:
        events_before = self._events_seen
        try:
            data = await self._client().containers.container(container_id).show()
        except DockerError as exc:
            if exc.status == 404:
                return None
            raise _error(exc, f"inspecting container {container_id}") from exc
        except aiohttp.ClientError as exc:
            raise _error(exc, f"inspecting container {container_id}") from exc
        observed = observe(data)
        cid = observed.container_id
        self._seen[cid] = observed
        # Only if no event of it came while the engine answered: the answer may predate it.
        if observed.state == "running" and self._touched.get(cid, 0) <= events_before:
            self._reusable[cid] = time.monotonic() + REUSE_INSPECTION
        else:
            self._reusable.pop(cid, None)
        return observed

    async def tail_logs(self, container_id: str, lines: int = 20) -> list[str]:
        if lines <= 0:
            return []
        params = {"stdout": "1", "stderr": "1", "tail": str(lines)}
        try:
            # aiodocker's log() decodes with errors="ignore", silently dropping bytes; reading
            # the raw stream keeps them visible as U+FFFD.
            async with self._client()._query(
                f"containers/{container_id}/logs", params=params
            ) as response:
                raw = await response.read()
        except (DockerError, aiohttp.ClientError) as exc:
            raise _error(exc, f"reading the logs of container {container_id}") from exc
        text = demultiplex(raw).decode("utf-8", errors="replace")
        return text.splitlines()[-lines:]

    def follow_logs(
        self, container_id: str, cursor: str | None, stop: asyncio.Event
    ) -> AsyncIterator[LogBatch]:
        """The engine's json-file log read directly when possible, else the logs API (see
        ``docker_logs`` for why and for the cursor's meaning)."""
        from platd.runtime.docker_logs import follow_logs

        return follow_logs(self._client, container_id, cursor, stop)

    async def events(self, host_id: str | None = None) -> AsyncGenerator[RuntimeEvent, None]:
        """Lifecycle events of plat containers (with ``host_id``: of those that host owns) from
        the moment of the first ``anext``, forever.

        An engine shared by several hosts (tests, benchmarks, a cluster tried out on one
        machine) reports every host's containers: each of their events woke a pass of every
        host's reconciler, and a pass under way holds up the one a rollout waits for.

        If the engine closes the stream, it is reopened from just after the last event seen, so
        nothing is lost; if the engine cannot be reached, ``RuntimeError_`` ends the iteration
        and the caller should re-list (``list_instances``) once it reconnects.
        """
        docker = self._client()
        labels = [f"{LABELS['managed']}=1"]
        if host_id is not None:
            labels.append(f"{LABELS['host']}={host_id}")  # labels filter together (AND)
        filters = json.dumps({"type": ["container"], "label": labels, "event": EVENT_ACTIONS})
        since_ns = time.time_ns()
        # Events before this stream began (a lost one's last moments) may never be heard:
        # no earlier inspection stands in for a new one.
        self._reusable.clear()
        while True:
            params = {"filters": filters, "since": _since(since_ns)}
            try:
                # The raw stream rather than docker.events.subscribe(): that one runs a shared
                # background task whose failure a subscriber cannot see.
                async with docker._query("events", params=params, timeout=None) as response:
                    async for line in response.content:
                        try:
                            raw = json.loads(line)
                        except ValueError:  # blank keep-alive, or cut off by a closing engine
                            continue
                        since_ns = max(since_ns, int(raw.get("timeNano") or 0) + 1)
                        event = to_event(raw)
                        if event is not None:
                            if event.action != "start":
                                # A start is the echo of one an inspection since has seen,
                                # or follows a die that already made it stale.
                                self._touch(event.container_id)
                            yield event
            except (DockerError, aiohttp.ClientError) as exc:
                raise _error(exc, "following Docker events") from exc
            # The engine closed the stream: reopen it, pausing so a flapping engine is no spin.
            await asyncio.sleep(1.0)

    async def capacity(self) -> HostCapacity:
        try:
            info = await self._client().system.info()
        except (DockerError, aiohttp.ClientError) as exc:
            raise _error(exc, "asking the Docker engine for its capacity") from exc
        return HostCapacity(cpus=float(info["NCPU"]), memory=int(info["MemTotal"]))

    async def prepare_env(self, env_id: str) -> None:
        await self.networks.ensure(env_id)

    def release_env(self, env_id: str) -> None:
        self.networks.release_soon(env_id)

    # --- images ------------------------------------------------------------------------------

    async def has_image(self, image: str) -> bool:
        try:
            await self._client().images.inspect(image)
        except DockerError as exc:
            if exc.status == 404:
                return False
            raise _error(exc, f"looking up image {image}", "image") from exc
        except aiohttp.ClientError as exc:
            raise _error(exc, f"looking up image {image}", "image") from exc
        return True

    async def pull(self, image: str) -> None:
        try:
            await self._client().images.pull(image)
        except (DockerError, aiohttp.ClientError) as exc:
            raise RuntimeError_(f"cannot pull {image}: {_pull_reason(exc)}", "image") from exc

    async def build_and_push(
        self, context_tar: bytes, tag: str, dockerfile: str = "Dockerfile"
    ) -> str:
        """Build ``tag`` from an uncompressed tar of the context, push it, return ``repo@digest``.

        The digest is the registry's manifest digest, the one a release pins.
        """
        try:
            ref = parse_reference(tag)
        except ImageError as exc:
            raise RuntimeError_(f"cannot build {tag}: {exc.message}", "image") from exc
        if ref.digest is not None:
            raise RuntimeError_(f"cannot build {tag}: name a tag to push, not a digest", "image")
        target = f"{ref.name}:{ref.tag}"
        docker = self._client()
        output: deque[str] = deque(maxlen=20)
        try:
            async for chunk in docker.images.build(
                fileobj=io.BytesIO(context_tar),
                encoding="identity",
                tag=target,
                path_dockerfile=dockerfile,
                forcerm=True,  # no intermediate containers left behind by a failed step
                stream=True,
            ):
                output.extend(str(chunk.get("stream") or "").splitlines())
        except (DockerError, aiohttp.ClientError) as exc:
            last = "\n".join(line for line in output if line.strip())
            reason = exc.message if isinstance(exc, DockerError) else str(exc)
            raise RuntimeError_(
                f"building {target} failed: {reason}" + (f"\n{last}" if last else ""), "image"
            ) from exc

        digest: str | None = None
        try:
            async for chunk in docker.images.push(ref.name, tag=ref.tag, stream=True):
                aux = chunk.get("aux")
                if isinstance(aux, dict) and aux.get("Digest"):
                    digest = str(aux["Digest"])
        except (DockerError, aiohttp.ClientError) as exc:
            raise RuntimeError_(
                f"pushing {target} to registry {ref.registry} failed: {_pull_reason(exc)}",
                "image",
            ) from exc
        if digest is not None:
            return ref.pinned(digest)
        try:
            return await resolve_digest(target)
        except ImageError as exc:
            raise RuntimeError_(f"pushed {target} but {exc.message}", "image") from exc

    # --- lifecycle ---------------------------------------------------------------------------

    async def create(self, spec: InstanceSpec) -> str:
        docker = self._client()
        name = spec.container_name
        try:
            try:
                network = await self.networks.ensure(spec.env_id)
                created = await docker.containers.create(
                    container_config(spec, network, self._pids_limit), name=name)
            except DockerError as exc:
                # The env's network went (its last container took it, or someone removed it)
                # after it was last seen.
                if exc.status != 404 or "network" not in exc.message.lower():
                    raise
                self.networks.forget(spec.env_id)
                network = await self.networks.ensure(spec.env_id)
                created = await docker.containers.create(
                    container_config(spec, network, self._pids_limit), name=name)
        except DockerError as exc:
            if exc.status == 409:
                # Created before a crash of ours: adopt it if it is the same instance.
                return await self._existing(name, spec)
            if exc.status == 404:
                raise ImageMissing(
                    f"cannot create {name}: image {spec.image} is not on this host ({exc.message})"
                ) from exc
            raise _error(exc, f"creating container {name}") from exc
        except aiohttp.ClientError as exc:
            raise _error(exc, f"creating container {name}") from exc
        return created.id

    async def _existing(self, name: str, spec: InstanceSpec) -> str:
        found = await self.inspect(name)
        if found is None:
            raise RuntimeError_(f"container name {name} is taken, but the container vanished")
        if found.instance_id != spec.instance_id:
            raise RuntimeError_(
                f"container name {name} is taken by a container that is not instance "
                f"{spec.instance_id}; remove it (docker rm {name}) or rename it"
            )
        return found.container_id

    async def start(self, container_id: str) -> None:
        container = self._client().containers.container(container_id)
        self._touch(container_id)
        try:
            try:
                await container.start()
            except DockerError as exc:
                # The engine checks the network at start, not at create: one removed behind
                # platd's back (or by its last container's release) is made again, once.
                if exc.status != 404 or "network" not in exc.message.lower():
                    raise
                if not await self._network_again(container_id):
                    raise
                await container.start()
        except (DockerError, aiohttp.ClientError) as exc:
            raise _error(exc, f"starting container {container_id}") from exc

    async def _network_again(self, container_id: str) -> bool:
        """Ensure the network of the container's env anew (False: not a plat container)."""
        observed = self._seen.get(container_id) or await self.inspect(container_id)
        if observed is None or not observed.env_id:
            return False
        self.networks.forget(observed.env_id)
        await self.networks.ensure(observed.env_id)
        return True

    @contextlib.contextmanager
    def _working_on(self, container_id: str) -> Iterator[None]:
        """Mark a stop or remove of ``container_id`` in flight (listings do not inspect it)."""
        self._busy[container_id] = self._busy.get(container_id, 0) + 1
        self._touch(container_id)
        try:
            yield
        finally:
            self._touch(container_id)
            left = self._busy.pop(container_id) - 1
            if left:
                self._busy[container_id] = left

    async def stop(self, container_id: str, timeout: float = 10.0) -> None:
        container = self._client().containers.container(container_id)
        try:
            with self._working_on(container_id):
                await container.stop(t=max(0, math.ceil(timeout)))
        except DockerError as exc:
            if exc.status in (304, 404):  # already stopped, or gone
                return
            raise _error(exc, f"stopping container {container_id}") from exc
        except aiohttp.ClientError as exc:
            raise _error(exc, f"stopping container {container_id}") from exc

    async def remove(self, container_id: str) -> None:
        container = self._client().containers.container(container_id)
        # Its env (for the network's release): known from an earlier inspection, usually.
        observed = self._seen.get(container_id) or await self.inspect(container_id)
        try:
            with self._working_on(container_id):
                try:
                    await container.delete(v=True)
                except DockerError as exc:
                    # Removing a container that still runs needs force (SIGKILL): only then.
                    if exc.status != 409 or "running" not in exc.message.lower():
                        raise
                    await container.delete(force=True, v=True)
        except DockerError as exc:
            if exc.status == 404 or "already in progress" in exc.message:
                return
            raise _error(exc, f"removing container {container_id}") from exc
        except aiohttp.ClientError as exc:
            raise _error(exc, f"removing container {container_id}") from exc
        finally:
            self._seen.pop(container_id, None)
        if observed is not None and observed.env_id:
            self.networks.release_soon(observed.env_id)

    # --- exec --------------------------------------------------------------------------------

    async def exec(
        self, container_id: str, cmd: Sequence[str], *, tty: bool, stdin: bool,
        env: Mapping[str, str] | None = None, rows: int = 0, cols: int = 0,
    ) -> DockerExecSession:
        docker = self._client()
        try:
            execution = await docker.containers.container(container_id).exec(
                list(cmd), stdin=stdin, tty=tty, environment=dict(env or {})
            )
            stream = execution.start(detach=False)
            await stream.__aenter__()  # opens the hijacked connection; closed by the session
        except (DockerError, aiohttp.ClientError) as exc:
            raise _error(exc, f"starting {shlex.join(cmd)} in container {container_id}") from exc
        local = str(docker.docker_host).startswith("unix://")
        session = DockerExecSession(execution, stream, container_id, local=local)
        if tty and rows > 0 and cols > 0:
            await session.resize(rows, cols, attempts=5)
        return session


async def _as_awaitable(value: ObservedContainer) -> ObservedContainer | None:
    return value


# --- errors --------------------------------------------------------------------------------


def _error(
    exc: DockerError | aiohttp.ClientError, action: str, category: str = "runtime"
) -> RuntimeError_:
    if isinstance(exc, DockerError):
        if exc.status == 900:  # aiodocker's code for "cannot connect"
            return RuntimeError_(f"{action}: {exc.message}; {engine_hint()}", category)
        return RuntimeError_(f"{action}: {exc.message}", category)
    return RuntimeError_(f"{action}: lost the connection to the Docker engine ({exc})", category)


def _pull_reason(exc: DockerError | aiohttp.ClientError) -> str:
    """Say which of the usual pull/push failures this is, keeping the engine's words."""
    message = exc.message if isinstance(exc, DockerError) else str(exc)
    lowered = message.lower()
    if isinstance(exc, DockerError) and exc.status == 900:
        return f"the Docker engine is unreachable ({message}); {engine_hint()}"
    if "connection refused" in lowered or "no such host" in lowered or "i/o timeout" in lowered:
        return f"the registry is unreachable ({message})"
    if "manifest unknown" in lowered or "not found" in lowered or "name unknown" in lowered:
        return f"not found in the registry ({message})"
    if "unauthorized" in lowered or "denied" in lowered:
        return f"the registry refused access ({message})"
    return message


def _since(ns: int) -> str:
    return f"{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}"


if TYPE_CHECKING:

    def _conforms(runtime: DockerRuntime) -> Runtime:
        return runtime
