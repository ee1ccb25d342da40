"""What the playbooks write to an edge host, computed from its inventory data alone.

The deploy files (bootstrap.py, network.py) only decide *which* operations run; every file
they install is rendered here, with the standard library, so the content can be checked in tests
without pyinfra, a host or a network (tests/playbooks), and a mistake in the inventory stops the
deploy before anything is changed, with a message naming the host and the key.
"""

from __future__ import annotations

import ipaddress
import json
import re
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


def render_settings(data: Mapping[str, Any]) -> str:
    """DATA/platd.toml from the host data platd_registry, platd_labels, platd_resync_seconds.

    Only the keys the inventory sets are written; platd's defaults apply to the others. Strings go
    through json.dumps, whose escapes are a subset of TOML's basic strings.
    """
    lines = ["# Managed by plat's playbooks/bootstrap.py from the inventory; changes here are",
             "# overwritten. platd reads it at start-up (restarted by the playbook on change).", ""]
    registry = data.get("platd_registry")
    if registry is not None:
        if not isinstance(registry, str) or not registry:
            raise HostDataError(f"platd_registry must be a host[:port] string, not {registry!r}")
        lines.append(f"registry = {json.dumps(registry)}")
    resync = data.get("platd_resync_seconds")
    if resync is not None:
        if isinstance(resync, bool) or not isinstance(resync, int | float) or resync <= 0:
            raise HostDataError(f"platd_resync_seconds must be a positive number, not {resync!r}")
        lines.append(f"resync_seconds = {float(resync)!r}")
    labels = data.get("platd_labels")
    if labels is not None:
        if not isinstance(labels, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
            raise HostDataError(f"platd_labels must map strings to strings, not {labels!r}")
        lines += ["", "[labels]"]
        lines += [f"{json.dumps(k)} = {json.dumps(v)}" for k, v in sorted(labels.items())]
    return "\n".join(lines) + "\n"


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


def render_nftables(port: int, sources: Iterable[str]) -> str:
    """An nft script that lets only ``sources`` (and loopback) reach TCP ``port``.

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
        f"# Only cluster peers and loopback may reach the platd API (TCP {port}).\n"
        f"table inet {NFT_TABLE}\n"
        f"delete table inet {NFT_TABLE}\n"
        f"table inet {NFT_TABLE} {{\n"
        + "".join(sets)
        + "\tchain input {\n"
        "\t\ttype filter hook input priority filter; policy accept;\n"
        f'\t\ttcp dport {port} iifname != "lo" jump api\n'
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
