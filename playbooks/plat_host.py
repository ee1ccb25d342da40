"""What the playbooks write to an edge host, computed from its inventory data alone.

The deploy files (bootstrap.py, network.py) only decide *which* operations run; every file
they install is rendered here, with the standard library, so the content can be checked in tests
without pyinfra, a host or a network (tests/playbooks), and a mistake in the inventory stops the
deploy before anything is changed, with a message naming the host and the key.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
import shlex
import tomllib
from collections.abc import Iterable, Mapping
from typing import Any

DATA_DIR = "/var/lib/platd"
HOST_FILE = f"{DATA_DIR}/host.json"
SETTINGS_FILE = f"{DATA_DIR}/platd.toml"
CACHE_DIR = "/var/cache/platd"
DEFAULT_LISTEN = "127.0.0.1:7400"
NFT_TABLE = "platd"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class HostDataError(ValueError):
    """The inventory gives a host a value the playbooks cannot use."""


def listen_port(listen: str) -> int:
    """The port of a platd ``--listen`` value: "127.0.0.1:7400", "[::]:7400" or "7400"."""
    port = listen.rsplit("]", 1)[-1].rsplit(":", 1)[-1] if ":" in listen else listen
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise HostDataError(f"platd_listen {listen!r} has no valid port "
                            "(write ADDRESS:PORT, IPv6 in brackets: [::]:7400)")
    return int(port)


def render_default(listen: str = DEFAULT_LISTEN, opts: str = "") -> str:
    """/etc/default/platd, read by platd.service (systemd EnvironmentFile syntax)."""
    listen_port(listen)
    for key, value in (("platd_listen", listen), ("platd_opts", opts)):
        if re.search(r'["\\$`\n]', value):
            raise HostDataError(f"{key} {value!r} must not contain quotes, $, ` or backslashes")
    return (
        "# Managed by plat's playbooks/bootstrap.py; changes here are overwritten.\n"
        "# Read by platd.service: the API address, and extra arguments for `platd serve`.\n"
        f'PLAT_LISTEN="{listen}"\n'
        f'PLATD_OPTS="{opts}"\n'
    )


JOIN_TOKEN_FILE = f"{DATA_DIR}/.join-token"
_CLUSTER_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_GOSSIP = re.compile(r"^(?:\[[0-9a-fA-F:.]+\]|[0-9.]+):[0-9]{1,5}$")
_URL = re.compile(r"^https?://(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::[0-9]{1,5})?$")


def init_command(data: Mapping[str, Any], name: str, out: str) -> str:
    """The shell line that runs ``platd init`` once, its JSON answer to ``out``.

    ``platd_cluster`` makes a new cluster; ``platd_join`` (a member's API URL) joins one with
    the join token that the deploy uploaded to JOIN_TOKEN_FILE (0600), read into the
    environment so that it is in no command line and no deploy output, and deleted whatever
    happens. Both need ``platd_gossip`` (ADDRESS:PORT peers gossip with) and
    ``platd_advertise`` (the https URL peers and users reach the API at)."""
    cluster, join = data.get("platd_cluster"), data.get("platd_join")
    line = f"/usr/local/bin/platd init --data {DATA_DIR} --name {shlex.quote(name)} --json"
    if not cluster and not join:
        return f"{line} > {out}"
    if cluster and join:
        raise HostDataError("platd_cluster and platd_join exclude each other: a host makes a "
                            "cluster or joins one")
    gossip, advertise = data.get("platd_gossip"), data.get("platd_advertise")
    if not isinstance(gossip, str) or not _GOSSIP.match(gossip):
        raise HostDataError(f"platd_gossip must be ADDRESS:PORT (IPv6 in brackets), not "
                            f"{gossip!r}")
    if not isinstance(advertise, str) or not _URL.match(advertise):
        raise HostDataError(f"platd_advertise must be a URL like https://ADDRESS:7400, not "
                            f"{advertise!r}")
    line += f" --gossip {gossip} --advertise {advertise}"
    if cluster:
        if not isinstance(cluster, str) or not _CLUSTER_NAME.match(cluster):
            raise HostDataError(f"platd_cluster must be a cluster name (lower case letters, "
                                f"digits, dashes), not {cluster!r}")
        return f"{line} --cluster {cluster} > {out}"
    if not isinstance(join, str) or not _URL.match(join):
        raise HostDataError(f"platd_join must be a member's API URL, not {join!r}")
    return (f'PLAT_JOIN_TOKEN="$(cat {JOIN_TOKEN_FILE})" {line} --join {join} > {out}; '
            f"rc=$?; rm -f {JOIN_TOKEN_FILE}; test $rc = 0")


# Host data key -> platd.toml key, for the settings set as they are (labels merge per label).
INVENTORY_SETTINGS = {
    "platd_registry": "registry",
    "platd_resync_seconds": "resync_seconds",
    "platd_logs_max_age": "logs_max_age",
    "platd_logs_max_bytes": "logs_max_bytes",
    "platd_ingress_ipv6": "ingress_ipv6",
    "platd_ingress_ipv4": "ingress_ipv4",
    "platd_ingress_driver": "ingress_driver",
}
SETTINGS_HEADER = (
    "# platd's settings (docs/operations.md). plat's bootstrap playbook sets the keys the\n"
    "# inventory gives on every run and keeps every other key written here; comments are not\n"
    "# kept. platd reads this file at start-up.\n"
)


def _pool(key: str, value: Any, version: int) -> list[str]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise HostDataError(f"{key} must be a list of IPv{version} addresses or prefixes, "
                            f"not {value!r}")
    for entry in value:
        try:
            ok = ipaddress.ip_network(str(entry), strict=False).version == version
        except ValueError:
            ok = False
        if not ok:
            raise HostDataError(f"{key}: {entry!r} is not an IPv{version} address or prefix")
    return [str(entry) for entry in value]


def _check_setting(key: str, value: Any) -> Any:
    """The value of one inventory setting, or HostDataError naming the key and the shape."""
    if key == "platd_registry":
        if not isinstance(value, str) or not value:
            raise HostDataError(f"platd_registry must be a host[:port] string, not {value!r}")
    elif key == "platd_resync_seconds":
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise HostDataError(f"platd_resync_seconds must be a positive number, not {value!r}")
        return float(value)
    elif key in ("platd_logs_max_age", "platd_logs_max_bytes"):
        if isinstance(value, bool) or not isinstance(value, str | int):
            what = '"7d"' if key.endswith("age") else '"1G"'
            raise HostDataError(f"{key} must be a string like {what} or a number, not {value!r}")
    elif key in ("platd_ingress_ipv6", "platd_ingress_ipv4"):
        return _pool(key, value, int(key[-1]))
    elif key == "platd_ingress_driver" and value not in ("builtin", "haproxy"):
        raise HostDataError(f'platd_ingress_driver must be "builtin" or "haproxy", not {value!r}')
    return value


def settings_from_inventory(data: Mapping[str, Any]) -> dict[str, Any]:
    """The platd.toml keys the inventory sets for a host (nothing for what it leaves out).

    ``platd_settings`` passes any other platd.toml keys through as they are (for settings newer
    than this playbook); the named keys above win over it.
    """
    extra = data.get("platd_settings") or {}
    if not isinstance(extra, Mapping) or not all(isinstance(k, str) for k in extra):
        raise HostDataError(f"platd_settings must map platd.toml keys to values, not {extra!r}")
    wanted: dict[str, Any] = dict(extra)
    for key, setting in INVENTORY_SETTINGS.items():
        if data.get(key) is not None:
            wanted[setting] = _check_setting(key, data[key])
    labels = data.get("platd_labels")
    region = data.get("platd_region")
    if labels is not None or region is not None:
        labels = {} if labels is None else labels
        if not isinstance(labels, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
            raise HostDataError(f"platd_labels must map strings to strings, not {labels!r}")
        if region is not None and (not isinstance(region, str) or not region):
            raise HostDataError(f"platd_region must be a non-empty string, not {region!r}")
        wanted["labels"] = {**dict(wanted.get("labels") or {}), **labels,
                            **({"region": region} if region else {})}
    return wanted


def merge_settings(existing: str | None, data: Mapping[str, Any]) -> str | None:
    """platd.toml with the inventory's settings merged into what the host has.

    Keys the inventory sets take its value (labels: label by label); every other key the file
    has stays, and no default is ever written. None when the file already says all of it, so
    a rerun leaves an operator's file alone (comments included).
    """
    wanted = settings_from_inventory(data)
    try:
        current = tomllib.loads(existing) if existing is not None else {}
    except tomllib.TOMLDecodeError as e:
        raise HostDataError(f"{SETTINGS_FILE} on the host is not valid TOML ({e}); fix it or "
                            "move it away, then run the playbook again") from None
    merged = copy.deepcopy(current)
    for key, value in wanted.items():
        if key == "labels" and isinstance(merged.get("labels"), dict):
            merged["labels"].update(value)
        else:
            merged[key] = value
    if existing is not None and merged == current:
        return None
    return SETTINGS_HEADER + render_toml(merged)


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    # json.dumps's string escapes are a subset of TOML's basic strings.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return json.dumps(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}"
                                for k, v in value.items()) + " }"
    raise HostDataError(f"cannot write {value!r} to platd.toml")


def render_toml(settings: Mapping[str, Any]) -> str:
    """TOML for platd.toml's shapes, every key at the top level (tables inline).

    No [table] sections: a key an operator appends at the end of the file must stay a
    top-level setting, where after a [labels] header it would silently become a label.
    """
    return "".join(f"{_toml_key(k)} = {_toml_value(v)}\n" for k, v in settings.items())


DOCKER_DAEMON_FILE = "/etc/docker/daemon.json"
# Container logs rotate at 3 files of 10 MB; json-file, because platd reads those files directly
# (platd/runtime/docker_logs.py) and falls back to the slower API for other drivers.
DOCKER_LOG_DRIVER = "json-file"
DOCKER_LOG_OPTS = {"max-size": "10m", "max-file": "3"}


def merge_docker_daemon(existing: str | None) -> str | None:
    """/etc/docker/daemon.json with log rotation and live-restore merged into what is there.

    live-restore keeps containers running while dockerd restarts (an upgrade of docker.io). A
    log driver the host chose stays; json-file and local get rotation limits unless they have
    their own. Every other key stays. None when the file already has all of it.
    """
    try:
        current = json.loads(existing) if existing and existing.strip() else {}
    except ValueError as e:
        raise HostDataError(f"{DOCKER_DAEMON_FILE} on the host is not valid JSON ({e}); fix it "
                            "or move it away, then run the playbook again") from None
    if not isinstance(current, dict):
        raise HostDataError(f"{DOCKER_DAEMON_FILE} on the host is not a JSON object; fix it or "
                            "move it away, then run the playbook again")
    merged = copy.deepcopy(current)
    merged["live-restore"] = True
    driver = merged.setdefault("log-driver", DOCKER_LOG_DRIVER)
    if driver in ("json-file", "local"):
        opts = merged.get("log-opts")
        merged["log-opts"] = {**DOCKER_LOG_OPTS, **(opts if isinstance(opts, dict) else {})}
    if existing is not None and merged == current:
        return None
    return json.dumps(merged, indent=2) + "\n"


# Debian release -> the CPython its python3 is; uname -m -> Debian's name for the machine.
DEBIAN_PYTHON = {"12": "3.11", "13": "3.13"}
DEBIAN_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


def build_target(os_release: Mapping[str, str], machine: str) -> str:
    """The packaging/build-pyz target that runs on a host, from /etc/os-release and uname -m.

    Read from the release rather than from python3, which a fresh host may not have yet.
    """
    name = os_release.get("pretty_name") or os_release.get("id") or "an unknown system"
    version = os_release.get("version_id", "")
    if os_release.get("id") != "debian" or version not in DEBIAN_PYTHON:
        raise HostDataError(f"this host runs {name}; plat hosts must run Debian 12 or 13")
    if machine not in DEBIAN_ARCH:
        raise HostDataError(f"this host is a {machine} machine; plat is built for amd64 "
                            "(x86_64) and arm64 (aarch64) only")
    return f"debian{version}-{DEBIAN_ARCH[machine]}"


def peer_networks(sources: Iterable[str]) -> tuple[list[Network], list[Network]]:
    """IPv4 and IPv6 networks from addresses and CIDRs, overlaps merged, in a stable order."""
    v4: list[ipaddress.IPv4Network] = []
    v6: list[ipaddress.IPv6Network] = []
    for source in sources:
        try:
            net = ipaddress.ip_network(str(source).strip(), strict=False)
        except ValueError as e:
            raise HostDataError(f"platd_peers: {e}") from None
        if isinstance(net, ipaddress.IPv4Network):
            v4.append(net)
        else:
            v6.append(net)
    return list(ipaddress.collapse_addresses(v4)), list(ipaddress.collapse_addresses(v6))


def _element(net: Network) -> str:
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


HOP_PORT = 7401  # platd's hop_port default: other hosts' ingress reaches this host's instances


def render_nftables(port: int, sources: Iterable[str], hop_port: int = HOP_PORT) -> str:
    """An nft script that lets only ``sources`` (and loopback) reach TCP ``port`` (the API)
    and ``hop_port`` (the hop HAProxy opens for other hosts' endpoints; it refuses strangers
    itself too).

    It replaces the one table ``inet platd`` atomically ("table" then "delete table" makes the
    delete safe when the table is absent) and touches nothing else, so Docker's rules and any
    firewall of the host's own stay. Accepting here does not bypass other tables, while a drop
    here is final, which is exactly "only peers, whatever else is allowed". Only TCP to the
    port enters the filtering chain: everything else (ICMPv6 neighbour discovery, DNS replies,
    PMTU messages) must pass untouched whatever its source.
    """
    v4, v6 = peer_networks(sources)
    sets = []
    for name, kind, nets in (("peers4", "ipv4_addr", v4), ("peers6", "ipv6_addr", v6)):
        body = [f"\t\ttype {kind}", "\t\tflags interval"]
        if nets:
            body.append("\t\telements = { " + ", ".join(_element(n) for n in nets) + " }")
        sets.append(f"\tset {name} {{\n" + "\n".join(body) + "\n\t}\n")
    return (
        "#!/usr/sbin/nft -f\n"
        "# Managed by plat's playbooks/network.py; changes here are overwritten.\n"
        f"# Only cluster peers and loopback may reach the platd API (TCP {port}) and the\n"
        f"# hop to this host's instances (TCP {hop_port}).\n"
        f"table inet {NFT_TABLE}\n"
        f"delete table inet {NFT_TABLE}\n"
        f"table inet {NFT_TABLE} {{\n"
        + "".join(sets)
        + "\tchain input {\n"
        "\t\ttype filter hook input priority filter; policy accept;\n"
        f'\t\ttcp dport {{ {port}, {hop_port} }} iifname != "lo" jump api\n'
        "\t}\n"
        "\tchain api {\n"
        "\t\tip saddr @peers4 accept\n"
        "\t\tip6 saddr @peers6 accept\n"
        "\t\tcounter drop\n"
        "\t}\n"
        "}\n"
    )


PLATD_WRAPPER = f"""#!/bin/sh
# Managed by plat's playbooks/bootstrap.py. platd is the same single-file program as plat:
# `platd ARGS` is `plat daemon ARGS`. As root it shares platd.service's extraction cache.
if [ -z "${{SHIV_ROOT:-}}" ] && [ "$(id -u)" = 0 ]; then
  SHIV_ROOT={CACHE_DIR}
  export SHIV_ROOT
fi
exec /usr/local/bin/plat daemon "$@"
"""
