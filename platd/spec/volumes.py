"""Volumes as rules: sizes, placement, resize, sharing, and the words that explain each.

Everything a volume command can refuse is decided here, without I/O, so each refusal is tested
from a table of values: a size the host cannot enforce, a placement no host meets (the refusal
lists the hosts and labels that exist), a shrink, a manifest naming a volume that does not exist
(the gate names the ``plat volumes create`` command), and a workload whose count cannot share
its volume. The I/O (image files, loop devices, mounts) lives in ``platd.volumes``.

A volume is one filesystem on one host, mounted read-write by one instance at a time. That single
choice explains the rest: instances that mount it run where it is; a workload that mounts it
read-write runs at most one instance; and replacing that instance is *stop-first* (the old one
stops before the new one mounts the volume), because two instances writing the same files
unaware of each other corrupt them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from platd.spec.errors import Conflict, InvalidInput
from platd.spec.manifest import Manifest, VolumeMount
from platd.spec.sizes import MIB, TIB, format_size, parse_size

# XFS (what volumes are formatted with, see docs/volumes.md) refuses filesystems below 300M.
MIN_VOLUME = 300 * MIB
MAX_VOLUME = 16 * TIB
SIZE_EXAMPLE = "1G"


def parse_volume_size(value: str | int, *, free: int | None = None,
                      minimum: int = MIN_VOLUME, reserve: int = 0) -> int:
    """Bytes for a volume size, rounded up to whole MiB; ``free`` is what the host can give
    (its free space beyond ``reserve``, which volumes may not take).

    Sizes are reserved when a volume is created (the image file is allocated, not sparse), so a
    size larger than the free space of the host's data disk could not be honoured and is refused.
    """
    size = parse_size(value, what="volume size", minimum=minimum, maximum=MAX_VOLUME)
    size = -(-size // MIB) * MIB
    if free is not None and size > free:
        beyond = (f" beyond the {format_size(reserve)} it keeps free for itself (disk_reserve "
                  "in platd.toml)") if reserve else ""
        raise InvalidInput(
            f"volume size {format_size(size)} is more than this host can reserve: "
            f"{format_size(max(free, 0))} is free on its data disk{beyond}",
            hint=f"use at most {format_size(max(free, 0))}, or free space on the host",
            details={"size": size, "free": max(free, 0), "reserve": reserve},
        )
    return size


@dataclass(frozen=True)
class HostInfo:
    """A host volumes can be placed on: its id, name and labels (``platd.toml``)."""

    id: str
    name: str
    labels: Mapping[str, str]

    def describe(self) -> str:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(self.labels.items())) or "no labels"
        return f"{self.name} ({self.id[-12:]}): {labels}"


def place_volume(hosts: Sequence[HostInfo], *, region: str | None = None,
                 host: str | None = None, local: str | None = None) -> HostInfo:
    """The host a new volume goes on: the one that meets ``region``/``host``.

    ``host`` matches a host's name, id, or the last characters of its id. Without constraints
    the host that accepted the request (``local``) is chosen. A constraint no host meets is
    refused, listing every host with its labels.
    """
    if not hosts:
        raise InvalidInput("no host is known to place the volume on")
    candidates = list(hosts)
    wanted = []
    if host is not None:
        wanted.append(f"host {host}")
        candidates = [h for h in candidates if host in (h.name, h.id) or
                      (len(host) >= 6 and h.id.endswith(host))]
    if region is not None:
        wanted.append(f"region={region}")
        candidates = [h for h in candidates if h.labels.get("region") == region]
    if not candidates:
        regions = sorted({h.labels["region"] for h in hosts if "region" in h.labels})
        raise InvalidInput(
            f"no host meets {' and '.join(wanted)}",
            hint=["hosts that exist: " + "; ".join(h.describe() for h in hosts),
                  f"regions that exist: {', '.join(regions) or 'none'}",
                  "pick one of those, or give a host the label in its platd.toml "
                  "(labels = { region = \"...\" }) and restart platd"],
            details={"hosts": [{"id": h.id, "name": h.name, "labels": dict(h.labels)}
                               for h in hosts]},
        )
    for h in candidates:
        if h.id == local:
            return h
    return candidates[0]


def check_resize(name: str, current: int, new: int) -> None:
    """Growing is allowed (online, while mounted); shrinking never is."""
    if new < current:
        raise Conflict(
            f"volume {name} is {format_size(current)}; it cannot shrink to {format_size(new)}",
            hint=["a mounted filesystem can only grow (XFS cannot shrink at all), and shrinking "
                  "would cut off whatever lies past the new end",
                  f"to use less space: snapshot it, create a smaller volume, copy the data "
                  f"with plat exec, and delete {name}"],
            details={"size": current, "requested": new},
        )
    if new == current:
        raise InvalidInput(f"volume {name} is already {format_size(current)}",
                           hint="pass a larger size to grow it")


def writable(mounts: Sequence[VolumeMount]) -> list[VolumeMount]:
    return [m for m in mounts if not m.read_only]


def stop_first_reason(workload: str, mounts: Sequence[VolumeMount]) -> str:
    """Why a workload's instances are replaced stop-first, in one sentence."""
    names = ", ".join(f"{m.name} at {m.mount}" for m in writable(mounts))
    return (f"{workload} mounts volume {names} read-write, and a volume is mounted by one "
            "instance at a time: the old instance stops before the new one starts, so expect "
            "a short gap in service")


def placement_reason(workload: str, mounts: Sequence[VolumeMount], host: str) -> str:
    names = ", ".join(m.name for m in mounts)
    return (f"instances of {workload} run on host {host}, where volume {names} is: an instance "
            "that mounts a volume runs on the volume's host")


@dataclass(frozen=True)
class VolumeGap:
    """One way a manifest's volume attachments do not fit the env; ``fix`` is what to run."""

    kind: str  # "volume": does not exist; "count": more instances than the volume allows
    name: str  # the volume
    workload: str
    line: int
    fix: str
    why: str = ""
    source: str = "plat.toml"

    def describe(self) -> str:
        where = f"{self.source} line {self.line}" if self.line else self.source
        if self.kind == "volume":
            return (f"volume {self.name} (attached to {self.workload} at {where}) does not "
                    f"exist: {self.fix}")
        return f"{self.why}: {self.fix}"

    def to_dict(self) -> dict[str, str | int]:
        return {"kind": self.kind, "name": self.name, "workload": self.workload,
                "line": self.line, "fix": self.fix}


def check_volumes(
    manifest: Manifest, volumes: set[str], target: str, *,
    counts: Mapping[str, int] | None = None, manifest_file: str = "plat.toml",
) -> list[VolumeGap]:
    """Attachments whose volume does not exist in the env, and workloads that cannot share one.

    ``counts`` overrides the manifest's count per workload (env-level scale).
    """
    gaps = []
    for index, m in enumerate(manifest.volumes):
        if m.name not in volumes:
            line = manifest.lines.get(f"volumes[{index}].name") or manifest.lines.get(
                f"volumes[{index}]", 0)
            gaps.append(VolumeGap(
                "volume", m.name, m.workload, line,
                f"plat volumes create {m.name} --size {SIZE_EXAMPLE} --target {target}",
                source=manifest_file,
            ))
    for name, w in manifest.workloads.items():
        count = (counts or {}).get(name, w.count)
        shared = writable([m for m in manifest.volumes if m.workload == name])
        if count > 1 and shared:
            m = shared[0]
            line = manifest.lines.get(f"workloads.{name}.count", 0)
            gaps.append(VolumeGap(
                "count", m.name, name, line,
                f"set count = 1 for {name}, or mount {m.name} with read_only = true",
                why=count_problem(name, count, m),
                source=manifest_file,
            ))
    return gaps


def count_problem(workload: str, count: int, m: VolumeMount) -> str:
    return (f"workload {workload} asks for {count} instances but mounts volume {m.name} "
            "read-write; a volume is one filesystem on one host, mounted read-write by one "
            "instance at a time, so that two instances never write the same files unaware of "
            "each other")
