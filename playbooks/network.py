"""Host networking for plat's data plane: forwarding on, and the platd API open only to peers.

Containers reach the world and each other through the host, so IPv4 and IPv6 forwarding are on
(persisted in /etc/sysctl.d/60-plat.conf). Turning IPv6 forwarding on makes Linux ignore router
advertisements on every interface whose accept_ra is 1, which silently drops a SLAAC host's
default route at its next renewal; list such uplinks in ``ipv6_accept_ra_interfaces`` and they
get accept_ra=2 (accept even when forwarding).

The platd API port (from ``platd_listen``) is reachable only from ``platd_peers`` and loopback:
an nftables table of its own, ``inet platd``, rendered by plat_host.render_nftables, checked with
``nft -c`` before it is loaded, and loaded at boot by platd-firewall.service. Nothing else in the
host's ruleset is touched, so Docker's rules and any firewall already there keep working.

bootstrap.py runs this first; run it alone to change the peers of running hosts:
``pyinfra playbooks/inventory.py playbooks/network.py``.
"""

from __future__ import annotations

import sys
from io import StringIO
from pathlib import Path

from pyinfra import host, logger
from pyinfra.api.exceptions import DeployError
from pyinfra.facts.files import Directory
from pyinfra.facts.server import Command
from pyinfra.facts.systemd import SystemdStatus
from pyinfra.operations import apt, files, server, systemd

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # pyinfra exec()s this file per host: make plat_host importable
    sys.path.insert(0, str(HERE))

import plat_host  # noqa: E402

NFT_FILE = "/etc/nftables.d/platd.nft"
SYSCTL_FILE = "/etc/sysctl.d/60-plat.conf"
UNIT = HERE.parent / "packaging" / "systemd" / "platd-firewall.service"


def _ruleset() -> str:
    peers = host.data.get("platd_peers") or []
    if isinstance(peers, str) or not isinstance(peers, list | tuple):
        raise DeployError(f"{host.name}: platd_peers must be a list of addresses or CIDRs")
    try:
        port = plat_host.listen_port(str(host.data.get("platd_listen", plat_host.DEFAULT_LISTEN)))
        ruleset = plat_host.render_nftables(port, peers)
    except plat_host.HostDataError as e:
        raise DeployError(f"{host.name}: {e}") from None
    if not peers:
        logger.warning(f"{host.name}: platd_peers is empty: only loopback may reach the platd API")
    return ruleset


ruleset = _ruleset()
systemd_running = bool(host.get_fact(Directory, path="/run/systemd/system"))
table_loaded = host.get_fact(
    Command,
    command=f"nft list table inet {plat_host.NFT_TABLE} >/dev/null 2>&1 && echo yes || echo no",
) == "yes"

apt.packages(
    name="Install nftables and procps (sysctl)",
    packages=["nftables", "procps"],
    update=True,
    cache_time=3600,
)

for key in ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"):
    server.sysctl(
        name=f"Enable forwarding: {key}",
        key=key,
        value=1,
        persist=True,
        persist_file=SYSCTL_FILE,
    )

for interface in host.data.get("ipv6_accept_ra_interfaces") or []:
    server.sysctl(
        name=f"Keep accepting router advertisements on {interface}",
        key=f"net.ipv6.conf.{interface}.accept_ra",
        value=2,
        persist=True,
        persist_file=SYSCTL_FILE,
    )

put_ruleset = files.put(
    name="Write the platd nftables table",
    src=StringIO(ruleset),
    dest=NFT_FILE,
    user="root",
    group="root",
    mode="644",
)

server.shell(
    name="Check the platd nftables table",
    commands=[f"nft -c -f {NFT_FILE}"],
    _if=put_ruleset.did_change,
)

put_unit = files.put(
    name="Install platd-firewall.service (loads the table at boot)",
    src=str(UNIT),
    dest="/etc/systemd/system/platd-firewall.service",
    user="root",
    group="root",
    mode="644",
)


def reload_needed() -> bool:
    return put_ruleset.did_change() or not table_loaded


if systemd_running:
    firewall_was_active = bool(host.get_fact(
        SystemdStatus, services=["platd-firewall.service"]).get("platd-firewall.service"))
    systemd.daemon_reload(
        name="Reload systemd for platd-firewall.service",
        _if=put_unit.did_change,
    )
    if firewall_was_active:
        # The unit's reload also restarts a platd that had to start on loopback only.
        systemd.service(
            name="Reload the platd nftables table",
            service="platd-firewall.service",
            reloaded=True,
            enabled=True,
            _if=reload_needed,
        )
    else:
        systemd.service(
            name="Enable and start platd-firewall (loads the table)",
            service="platd-firewall.service",
            running=True,
            enabled=True,
        )
else:
    server.shell(
        name="Load the platd nftables table",
        commands=[f"nft -f {NFT_FILE}"],
        _if=reload_needed,
    )
