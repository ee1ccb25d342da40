"""The rules of the repeated tables ``[[endpoints]]`` and ``[[volumes]]``: entries that each name
a workload, must be unique by name, and must not claim what another entry holds (an external
port, a mount of a workload).

Kept together because they share those cross-entry checks (``_workload_ref``, ``_unique``),
which is what makes them differ from a workload's own fields.
"""

from __future__ import annotations

from collections.abc import Collection

from platd.spec.manifest import Endpoint, VolumeMount
from platd.spec.manifest_checker import Checker
from platd.spec.manifest_lines import key_path, parent_path
from platd.spec.manifest_words import did_you_mean, quote, show
from platd.spec.runtime_rules import mount_problem

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any, Literal

_ENDPOINT_FIELDS = (
    "name",
    "workload",
    "internal_port",
    "external_ports",
    "protocol",
    "ipv4",
    "ipv6",
    "proxy_protocol",
)
_VOLUME_FIELDS = ("name", "workload", "mount", "read_only")


def check_endpoints(c: Checker, raw: Any, workloads: Collection[str]) -> tuple[Endpoint, ...]:
    endpoints = []
    names: dict[str, str] = {}
    owners: dict[int, str] = {}
    for path, entry in c.aot("endpoints", raw):
        body = c.table(path, entry, _ENDPOINT_FIELDS)
        if not body and not isinstance(entry, dict):
            continue
        name = c.name(key_path(path, "name"), c.required(path, body, "name"), "endpoint")
        _unique(c, key_path(path, "name"), name, names, "endpoint")
        external = _external_ports(c, path, body, name, owners)
        endpoints.append(
            Endpoint(
                name=name,
                workload=_workload_ref(c, path, body, workloads),
                internal_port=c.port(
                    key_path(path, "internal_port"), c.required(path, body, "internal_port")
                ),
                external_ports=external,
                protocol=_protocol(c, key_path(path, "protocol"), body.get("protocol")),
                ipv4=c.boolean(key_path(path, "ipv4"), body.get("ipv4"), False),
                ipv6=_ipv6(c, path, body),
                proxy_protocol=_proxy(c, key_path(path, "proxy_protocol"), body),
            )
        )
    return tuple(endpoints)


def _external_ports(
    c: Checker, path: str, body: dict[str, Any], name: str, owners: dict[int, str]
) -> tuple[int, ...]:
    ports_path = key_path(path, "external_ports")
    raw = c.required(path, body, "external_ports")
    if isinstance(raw, list) and not raw:
        c.add(ports_path, "needs at least one port, e.g. external_ports = [80]")
    ports = c.ports(ports_path, raw)
    for port_path, port in ports:
        if port in owners:
            c.add(port_path, f"external port {port} is already used by endpoint {owners[port]}")
        else:
            owners[port] = f"'{name}'" if name else path
    return tuple(port for _, port in ports)


def _protocol(c: Checker, path: str, value: Any) -> Literal["tcp"]:
    text = c.string(path, value, "tcp")
    if text != "tcp":
        c.add(path, f'only "tcp" is supported, got {quote(text)}')
    return "tcp"


def _ipv6(c: Checker, path: str, body: dict[str, Any]) -> bool:
    ipv6 = c.boolean(key_path(path, "ipv6"), body.get("ipv6"), True)
    if not ipv6 and body.get("ipv4") is not True:
        c.add(
            key_path(path, "ipv6"),
            "ipv6 = false needs ipv4 = true: an endpoint must listen on at least one of them",
        )
    return ipv6


def _proxy(c: Checker, path: str, body: dict[str, Any]) -> Literal["v2"] | None:
    if "proxy_protocol" not in body:
        return None
    value = body["proxy_protocol"]
    if value != "v2":
        c.add(path, f'must be "v2" or left out, got {show(value)}')
        return None
    return "v2"


def check_volumes(c: Checker, raw: Any, workloads: Collection[str]) -> tuple[VolumeMount, ...]:
    volumes = []
    names: dict[str, str] = {}
    mounts: dict[tuple[str, str], str] = {}
    for path, entry in c.aot("volumes", raw):
        body = c.table(path, entry, _VOLUME_FIELDS)
        if not body and not isinstance(entry, dict):
            continue
        name = c.name(key_path(path, "name"), c.required(path, body, "name"), "volume")
        _unique(c, key_path(path, "name"), name, names, "volume")
        workload = _workload_ref(c, path, body, workloads)
        mount = _mount(c, key_path(path, "mount"), c.required(path, body, "mount"))
        if mount and (workload, mount) in mounts:
            c.add(
                key_path(path, "mount"),
                f"{mount} on workload '{workload}' is already the mount of volume "
                f"{mounts[workload, mount]}",
            )
        elif mount:
            mounts[workload, mount] = f"'{name}'"
        read_only = c.boolean(key_path(path, "read_only"), body.get("read_only"), False)
        volumes.append(VolumeMount(name, workload, mount, read_only))
    return tuple(volumes)


def _mount(c: Checker, path: str, value: Any) -> str:
    mount = c.string(path, value, "")
    if not isinstance(value, str):
        return ""
    problem = mount_problem(mount)
    if problem:
        c.add(path, f"invalid mount {quote(mount)}: {problem}")
        return ""
    return mount


def _workload_ref(c: Checker, path: str, body: dict[str, Any], workloads: Collection[str]) -> str:
    ref_path = key_path(path, "workload")
    ref = c.string(ref_path, c.required(path, body, "workload"), "")
    if isinstance(body.get("workload"), str) and ref not in workloads:
        c.add(ref_path, f"no workload named {quote(ref)}{did_you_mean(ref, workloads)}")
    return ref


def _unique(c: Checker, path: str, name: str, seen: dict[str, str], kind: str) -> None:
    if not name:
        return
    if name in seen:
        c.add(path, f"{kind} name '{name}' is already used by {seen[name]}")
    else:
        seen[name] = parent_path(path)
