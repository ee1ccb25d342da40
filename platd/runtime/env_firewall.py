"""A firewall of plat's own between env networks, so isolation does not depend on Docker's rules
staying in place.

Docker 20.10 isolates its bridge networks with iptables rules reached through one jump in the
FORWARD chain, and it deletes and re-inserts that jump (and the DOCKER-USER one) every time any
network is created. While the jump is gone, nothing stops a container on one bridge from
connecting to a container on another: measured here, the jump was missing in 12 of 434 looks
at the FORWARD chain taken while networks were being created and removed, and CI once saw an
instance of one org fetch a page from an instance of another.

So platd loads its own nftables table for the instance network pool (``inet plat_envs_<pool>``)
when it starts (its first look at the engine) and again before it creates a network, unless
it is there with this platd's rule (it goes with a reboot or an ``nft flush ruleset``; an
older platd may have loaded other rules): forwarded traffic from one of the pool's subnets to
another is dropped. Same-subnet traffic (an env's instances talking to each other, which
br_netfilter passes through the forward hook too) is allowed by a set of (subnet, subnet) pairs,
one per subnet of the pool: 256 for the default /16, 65,536 for the largest pool allowed (/8),
which nft loads in about a second. A drop in any base chain is final, so Docker's own rules and
any of the host's stay as they are, and Docker cannot remove this table. The host itself (health
probes, the ingress data plane) reaches instances through its output path, not forwarding, and
instances still reach the outside world.

The table is replaced atomically ("table" then "delete table", as playbooks/network.py does for
``inet platd``) and stays when platd stops: dropping traffic between envs is always right.
Without ``nft`` (or the right to use it) platd says so in its log and goes on with Docker's
isolation alone.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess

__all__ = ["ensure", "install", "loaded", "render", "table_name"]

NFT_TIMEOUT = 30.0  # seconds; a /8 pool loads in about one


def table_name(pool: str) -> str:
    """``plat_envs_10_213_0_0_16`` for 10.213.0.0/16: daemons on one host with the same pool
    share one table, and one with another pool gets its own."""
    network = ipaddress.ip_network(pool, strict=False)
    return "plat_envs_" + str(network).replace(".", "_").replace("/", "_")


def _rule(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    return f"ip saddr {network} ip daddr {network} ip saddr . ip daddr != @same_env counter drop"


def render(pool: str, prefix: int) -> str:
    """The nft script for ``pool`` cut into ``/prefix`` subnets (pure: no I/O)."""
    network = ipaddress.ip_network(pool, strict=False)
    if network.version != 4:
        raise ValueError(f"the instance network pool {pool} is not IPv4")
    name = table_name(pool)
    pairs = ", ".join(f"{s} . {s}" for s in network.subnets(new_prefix=prefix))
    return (
        "#!/usr/sbin/nft -f\n"
        "# Managed by platd (platd/runtime/env_firewall.py): instances of different envs\n"
        f"# (subnets of {network}) cannot reach each other.\n"
        f"table inet {name}\n"
        f"delete table inet {name}\n"
        f"table inet {name} {{\n"
        "\tset same_env {\n"
        "\t\ttype ipv4_addr . ipv4_addr\n"
        "\t\tflags interval\n"
        f"\t\telements = {{ {pairs} }}\n"
        "\t}\n"
        "\tchain forward {\n"
        "\t\ttype filter hook forward priority filter - 10; policy accept;\n"
        f"\t\t{_rule(network)}\n"
        "\t}\n"
        "}\n"
    )


def _nft() -> str | None:
    # sbin is not on every PATH (a user's shell, some service managers).
    return shutil.which("nft") or next(
        (p for p in ("/usr/sbin/nft", "/sbin/nft") if os.access(p, os.X_OK)), None)


def loaded(pool: str) -> bool:
    """Whether the table's chain is in place with this platd's rule (blocking). It goes with a
    reboot or an ``nft flush ruleset`` (Debian's /etc/nftables.conf begins with one), and an
    older platd may have loaded other rules. Only the chain is listed: the set of a /8 pool
    has 65,536 elements. Not loading a table already right keeps its drop counter."""
    nft = _nft()
    if nft is None:
        return False
    try:
        done = subprocess.run([nft, "list", "chain", "inet", table_name(pool), "forward"],
                              capture_output=True, text=True, timeout=NFT_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    rule = _rule(ipaddress.ip_network(pool, strict=False)).replace(" counter drop", " counter")
    return done.returncode == 0 and rule in done.stdout


def install(pool: str, prefix: int) -> str | None:
    """Load the table; None when it is in place, else why not (blocking: run it in a thread)."""
    nft = _nft()
    if nft is None:
        return "nft is not installed (apt-get install nftables)"
    try:
        done = subprocess.run([nft, "-f", "-"], input=render(pool, prefix), text=True,
                              capture_output=True, timeout=NFT_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"running nft failed: {e}"
    if done.returncode != 0:
        return f"nft refused the table: {(done.stderr or done.stdout).strip()[:300]}"
    return None


def ensure(pool: str, prefix: int) -> str | None:
    """``install`` unless the table is loaded already (blocking)."""
    return None if loaded(pool) else install(pool, prefix)
