"""What a new release changes compared with the one it replaces, for receipts and audit.

Every deploy receipt carries this diff so a user sees at once what will move (a new image, more
instances, a port opened to the internet) before watching the rollout. Config appears only as key
names: values may be credentials, and receipts are printed, logged and sent as JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields

from platd.spec.manifest import Endpoint, Manifest, VolumeMount, Workload
from platd.spec.sizes import format_size

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any, TypeVar

    _T = TypeVar("_T")


@dataclass(frozen=True)
class ReleaseDiff:
    """The changes between two releases, by name; ``*_changed`` maps a name to changed fields."""

    workloads_added: tuple[str, ...] = ()
    workloads_removed: tuple[str, ...] = ()
    workloads_changed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    endpoints_added: tuple[str, ...] = ()
    endpoints_removed: tuple[str, ...] = ()
    endpoints_changed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    volumes_added: tuple[str, ...] = ()
    volumes_removed: tuple[str, ...] = ()
    volumes_changed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    secret_bundles_added: tuple[str, ...] = ()
    secret_bundles_removed: tuple[str, ...] = ()
    config_added: tuple[str, ...] = ()
    config_changed: tuple[str, ...] = ()
    config_removed: tuple[str, ...] = ()
    # One-line descriptions of added things ("2 × 0.5 cpu, 128M"), keyed "workload:web".
    summaries: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def empty(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(self) if f.name != "summaries")

    def lines(self) -> list[str]:
        """Receipt lines such as "~ workload web: image, count"; ["no changes"] when empty."""
        out: list[str] = []
        for kind, added, removed, changed in (
            ("workload", self.workloads_added, self.workloads_removed, self.workloads_changed),
            ("endpoint", self.endpoints_added, self.endpoints_removed, self.endpoints_changed),
            ("volume", self.volumes_added, self.volumes_removed, self.volumes_changed),
        ):
            out += [f"+ {kind} {name}{self._summary(kind, name)}" for name in added]
            out += [f"~ {kind} {name}: {', '.join(what)}" for name, what in changed.items()]
            out += [f"- {kind} {name}" for name in removed]
        out += [f"+ secret bundle {name}" for name in self.secret_bundles_added]
        out += [f"- secret bundle {name}" for name in self.secret_bundles_removed]
        config = (
            [f"+{key}" for key in self.config_added]
            + [f"~{key}" for key in self.config_changed]
            + [f"-{key}" for key in self.config_removed]
        )
        if config:
            out.append(f"~ config: {' '.join(config)}")
        return out or ["no changes"]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "summaries":
                continue
            if isinstance(value, dict):
                data[f.name] = {name: list(what) for name, what in value.items()}
            else:
                data[f.name] = list(value)
        data["lines"] = self.lines()
        return data

    def _summary(self, kind: str, name: str) -> str:
        text = self.summaries.get(f"{kind}:{name}")
        return f" ({text})" if text else ""


def diff_releases(
    old: Manifest | None,
    new: Manifest,
    old_config: dict[str, str] | None,
    new_config: dict[str, str],
    old_images: dict[str, str],
    new_images: dict[str, str],
) -> ReleaseDiff:
    """Compare the release being created with the current one (``old`` is None for the first).

    ``*_images`` map workload name to the resolved image digest; a digest change counts as a
    change of the workload's "image" even when the manifest's image reference is the same tag.
    Config values are compared but never copied into the result.
    """
    old_workloads = old.workloads if old else {}
    added, removed, changed = _compare(
        old_workloads, new.workloads, lambda o, n: _workload_fields(o, n, old_images, new_images)
    )
    old_endpoints = {e.name: e for e in old.endpoints} if old else {}
    new_endpoints = {e.name: e for e in new.endpoints}
    ep_added, ep_removed, ep_changed = _compare(old_endpoints, new_endpoints, _changed_fields)
    old_volumes = {v.name: v for v in old.volumes} if old else {}
    new_volumes = {v.name: v for v in new.volumes}
    vol_added, vol_removed, vol_changed = _compare(old_volumes, new_volumes, _changed_fields)
    old_bundles = set(old.secret_bundles) if old else set()
    before = old_config or {}
    return ReleaseDiff(
        workloads_added=added,
        workloads_removed=removed,
        workloads_changed=changed,
        endpoints_added=ep_added,
        endpoints_removed=ep_removed,
        endpoints_changed=ep_changed,
        volumes_added=vol_added,
        volumes_removed=vol_removed,
        volumes_changed=vol_changed,
        secret_bundles_added=tuple(sorted(set(new.secret_bundles) - old_bundles)),
        secret_bundles_removed=tuple(sorted(old_bundles - set(new.secret_bundles))),
        config_added=tuple(sorted(new_config.keys() - before.keys())),
        config_changed=tuple(
            sorted(k for k in new_config.keys() & before.keys() if new_config[k] != before[k])
        ),
        config_removed=tuple(sorted(before.keys() - new_config.keys())),
        summaries={
            **{f"workload:{n}": describe_workload(new.workloads[n]) for n in added},
            **{f"endpoint:{n}": describe_endpoint(new_endpoints[n]) for n in ep_added},
            **{f"volume:{n}": describe_volume(new_volumes[n]) for n in vol_added},
        },
    )


def describe_workload(workload: Workload) -> str:
    """The scale of a workload in receipt words: "2 × 0.5 cpu, 128M"."""
    return f"{workload.count} × {workload.cpu:g} cpu, {format_size(workload.memory)}"


def describe_endpoint(endpoint: Endpoint) -> str:
    """What an endpoint exposes, and how: "tcp 80,443 -> web:8080, IPv6+IPv4, PROXY v2"."""
    families = "+".join(
        family for family, on in (("IPv6", endpoint.ipv6), ("IPv4", endpoint.ipv4)) if on
    )
    ports = ",".join(str(port) for port in endpoint.external_ports)
    text = (
        f"{endpoint.protocol} {ports} -> {endpoint.workload}:{endpoint.internal_port}, {families}"
    )
    if endpoint.proxy_protocol:
        text += f", PROXY {endpoint.proxy_protocol}"
    return text


def describe_volume(volume: VolumeMount) -> str:
    mode = ", read-only" if volume.read_only else ""
    return f"{volume.workload}:{volume.mount}{mode}"


def _compare(
    old: Mapping[str, _T],
    new: Mapping[str, _T],
    changed_fields: Callable[[_T, _T], tuple[str, ...]],
) -> tuple[tuple[str, ...], tuple[str, ...], dict[str, tuple[str, ...]]]:
    added = tuple(sorted(new.keys() - old.keys()))
    removed = tuple(sorted(old.keys() - new.keys()))
    changed = {}
    for name in sorted(old.keys() & new.keys()):
        what = changed_fields(old[name], new[name])
        if what:
            changed[name] = what
    return added, removed, changed


def _changed_fields(old: Any, new: Any) -> tuple[str, ...]:
    return tuple(
        f.name
        for f in fields(old)
        if f.name != "name" and getattr(old, f.name) != getattr(new, f.name)
    )


def _workload_fields(
    old: Workload, new: Workload, old_images: dict[str, str], new_images: dict[str, str]
) -> tuple[str, ...]:
    what = _changed_fields(old, new)
    digest_moved = old_images.get(old.name) != new_images.get(new.name)
    if digest_moved and "image" not in what:
        # "image" is the first compared field, so putting it in front keeps the field order.
        what = ("image", *what)
    return what
