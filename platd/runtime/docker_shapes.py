"""Pure shapes between the Docker Engine's JSON and plat's types.

``docker.py`` talks to the engine; this module only translates: an ``InstanceSpec`` into a
``POST /containers/create`` body, inspect and list entries into ``ObservedContainer``, event
messages into ``RuntimeEvent``. Kept apart so the translation is testable without an engine (and
without aiodocker), and so ``docker.py`` stays about I/O, errors and the engine's quirks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, get_args

from platd.runtime.base import LABELS, ContainerState, InstanceSpec, ObservedContainer, RuntimeEvent

__all__ = [
    "DEFAULT_PIDS_LIMIT",
    "MIN_NANO_CPUS",
    "container_config",
    "listed",
    "observe",
    "parse_time",
    "to_event",
]

_STATES: frozenset[str] = frozenset(get_args(ContainerState))
DEFAULT_PIDS_LIMIT = 4096  # processes and threads per instance: a fork bomb stays inside
MIN_NANO_CPUS = 10_000_000  # 0.01 cores, Docker's smallest limit (0 would mean unlimited)


def container_config(
    spec: InstanceSpec, network: str | None = None, pids_limit: int = DEFAULT_PIDS_LIMIT
) -> dict[str, Any]:
    """The ``POST /containers/create`` body for one instance, attached to ``network`` (the env's
    own bridge; None: the engine's default) where its workload's name resolves to it.

    A cpu share is validated (platd/spec/limits.py) before it is stored; one stored before
    that, too small to be a limit, still becomes Docker's smallest limit, never NanoCpus=0."""
    mounts = [
        {"Type": "bind", "Source": host, "Target": path, "ReadOnly": True}
        for path, host in sorted(spec.files.items())
    ] + [
        {"Type": "bind", "Source": host, "Target": path, "ReadOnly": False}
        for path, host in sorted(spec.mounts.items())
    ] + [
        {"Type": "bind", "Source": host, "Target": path, "ReadOnly": True}
        for path, host in sorted(spec.read_only_mounts.items())
    ]
    host_config: dict[str, Any] = {
        "NanoCpus": max(MIN_NANO_CPUS, round(spec.cpu * 1e9)) if spec.cpu > 0 else 0,
        "PidsLimit": pids_limit,
        "Memory": spec.memory,
        "PortBindings": {
            f"{port}/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(host) if host else ""}]
            for port, host in sorted(spec.publish.items())
        },
        "Mounts": mounts,
        "RestartPolicy": {"Name": "no"},
        "Init": False,
    }
    if spec.memory:
        host_config["MemorySwap"] = spec.memory  # the limit is the limit: no extra swap
    config: dict[str, Any] = {
        "Image": spec.image,
        "Labels": spec.labels(),
        "Env": [f"{key}={value}" for key, value in sorted(spec.env.items())],
        "ExposedPorts": {f"{port}/tcp": {} for port in sorted(spec.publish)},
        "HostConfig": host_config,
    }
    if network is not None:
        host_config["NetworkMode"] = network
        config["NetworkingConfig"] = {"EndpointsConfig": {network: {"Aliases": [spec.workload]}}}
    if spec.command is not None:
        config["Cmd"] = list(spec.command)
    return config


def _identity(labels: Mapping[str, str]) -> dict[str, Any]:
    """What a container's labels say it is (its instance, host, env, release...), the same
    whether it was inspected or only listed."""
    return {
        "instance_id": labels.get(LABELS["instance"], ""),
        "host_id": labels.get(LABELS["host"], ""),
        "env_id": labels.get(LABELS["env"], ""),
        "workload": labels.get(LABELS["workload"], ""),
        "release_id": labels.get(LABELS["release"], ""),
        "spec_hash": labels.get(LABELS["spec"], ""),
        "volumes": tuple(v for v in labels.get(LABELS["volumes"], "").split(",") if v),
    }


def observe(data: Mapping[str, Any]) -> ObservedContainer:
    """Map ``GET /containers/{id}/json`` to what the reconciler needs."""
    labels: Mapping[str, str] = (data.get("Config") or {}).get("Labels") or {}
    state_data: Mapping[str, Any] = data.get("State") or {}
    status = str(state_data.get("Status") or "dead")
    state: ContainerState = status if status in _STATES else "dead"  # type: ignore[assignment]
    network: Mapping[str, Any] = data.get("NetworkSettings") or {}
    ip = network.get("IPAddress") or next(
        (n["IPAddress"] for n in (network.get("Networks") or {}).values() if n.get("IPAddress")),
        None,
    )
    published: dict[int, int] = {}
    for key, bindings in (network.get("Ports") or {}).items():
        port, _, proto = key.partition("/")
        host_ports = [b.get("HostPort") for b in bindings or () if b.get("HostPort")]
        if proto == "tcp" and host_ports:
            published[int(port)] = int(host_ports[0])
    started_at = parse_time(state_data.get("StartedAt"))
    finished_at = parse_time(state_data.get("FinishedAt"))
    if started_at is not None and finished_at is not None and finished_at < started_at:
        # A process that exits at once can be stamped finished before Docker stamps it started.
        finished_at = started_at
    return ObservedContainer(
        container_id=str(data["Id"]),
        **_identity(labels),
        state=state,
        exit_code=int(state_data.get("ExitCode") or 0) if state in ("exited", "dead") else None,
        oom_killed=bool(state_data.get("OOMKilled")),
        started_at=started_at,
        finished_at=finished_at,
        ip=ip or None,
        published=published,
        memory=int((data.get("HostConfig") or {}).get("Memory") or 0),
    )


_EXITED = re.compile(r"^Exited \((-?\d+)\)")


def listed(entry: Mapping[str, Any], last: ObservedContainer | None) -> ObservedContainer:
    """A ``GET /containers/json`` entry as an observation, for a container that is not to be
    inspected now: its state, labels, addresses and ports from the entry, the rest (times,
    exit code, OOM, memory limit) from ``last``, its latest inspection, if any."""
    labels: Mapping[str, str] = entry.get("Labels") or {}
    status = str(entry.get("State") or "dead")
    state: ContainerState = status if status in _STATES else "dead"  # type: ignore[assignment]
    networks: Mapping[str, Any] = (entry.get("NetworkSettings") or {}).get("Networks") or {}
    ip = next((n["IPAddress"] for n in networks.values() if n.get("IPAddress")), None)
    published = {int(p["PrivatePort"]): int(p["PublicPort"]) for p in entry.get("Ports") or ()
                 if p.get("Type") == "tcp" and p.get("PublicPort") and p.get("PrivatePort")}
    exit_code = None
    if state in ("exited", "dead"):
        match = _EXITED.match(str(entry.get("Status") or ""))
        exit_code = int(match.group(1)) if match else (last.exit_code if last else None)
    return ObservedContainer(
        container_id=str(entry["Id"]),
        **_identity(labels),
        state=state,
        exit_code=exit_code,
        oom_killed=last.oom_killed if last else False,
        started_at=last.started_at if last else None,
        finished_at=last.finished_at if last and state != "running" else None,
        ip=ip or None,
        published=published,
        memory=last.memory if last else 0,
    )


_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def parse_time(value: object) -> float | None:
    """Docker's RFC 3339 time (nanoseconds) as unix seconds; None for its zero time."""
    if not isinstance(value, str) or value.startswith("0001-01-01"):
        return None
    match = _RFC3339.match(value)
    if match is None:
        return None
    whole, fraction, zone = match.groups()
    base = datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone))
    return base.timestamp() + (float("0." + fraction) if fraction else 0.0)


def to_event(raw: Mapping[str, Any]) -> RuntimeEvent | None:
    """Map one ``GET /events`` message; None for anything that is not a container event."""
    actor: Mapping[str, Any] = raw.get("Actor") or {}
    attributes: Mapping[str, str] = actor.get("Attributes") or {}
    container_id = actor.get("ID") or raw.get("id")
    action = str(raw.get("Action") or raw.get("status") or "").split(":", 1)[0]
    if raw.get("Type", "container") != "container" or not container_id or not action:
        return None
    exit_code = attributes.get("exitCode")
    return RuntimeEvent(
        container_id=str(container_id),
        action=action,
        instance_id=attributes.get(LABELS["instance"]),
        exit_code=int(exit_code) if exit_code not in (None, "") else None,
    )
