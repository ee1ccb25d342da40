"""Endpoints as rules: what an endpoint may ask for, and which pool address it gets.

Everything an endpoint can be refused for without looking at the database is decided here, from
values: ports out of range or listed twice, a workload that does not exist or does not expose the
port, an empty pool, no address with the ports free. Allocation is deterministic: the address the
endpoint already has is kept while it is still free (an endpoint never moves when it changes),
otherwise the first pool address where every port is free; a prefix hands each endpoint an
address of its own. Whether a port is free on the host itself is asked through ``probe``, so the
rules stay without I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from platd.spec.errors import Conflict, InvalidInput, NotFound
from platd.spec.manifest import Endpoint, Manifest
from platd.spec.names import check_name

MAX_PREFIX_SCAN = 65536

# (family, address, port) -> who holds it, in words ("endpoint web of acme/shop/hello/prod").
Taken = dict[tuple[str, str, int], str]
# Why the host cannot listen on (family, address, port), or None when it can.
PortProbe = Callable[[str, str, int], str | None]


def any_port_free(_family: str, _address: str, _port: int) -> str | None:
    """A probe that asks nothing: for hosts (and tests) whose pools only plat listens on."""
    return None


@dataclass(frozen=True)
class Pools:
    """This host's endpoint addresses: single addresses or prefixes routed to the host."""

    ipv6: tuple[str, ...] = ("::1",)
    ipv4: tuple[str, ...] = ("127.0.0.1",)

    def of(self, family: str) -> tuple[str, ...]:
        return self.ipv6 if family == "ipv6" else self.ipv4


@dataclass(frozen=True)
class Wanted:
    """An endpoint as asked for, before addresses are allocated."""

    name: str
    workload: str
    internal_port: int
    external_ports: tuple[int, ...]
    ipv6: bool = True
    ipv4: bool = False
    proxy_protocol: str | None = None

    @classmethod
    def of(cls, e: Endpoint) -> Wanted:
        return cls(e.name, e.workload, e.internal_port, tuple(e.external_ports), e.ipv6, e.ipv4,
                   e.proxy_protocol)


def check_protocol(protocol: str) -> None:
    if protocol != "tcp":
        raise InvalidInput(
            f"protocol {protocol!r} is not supported: endpoints are tcp",
            hint="leave --protocol out (tcp)",
        )


def check_wanted(w: Wanted, manifest: Manifest | None, target: str) -> None:
    """Everything that can be said about one endpoint without looking at other endpoints."""
    check_name("endpoint", w.name)
    problems = []
    for port in (*w.external_ports, w.internal_port):
        if not isinstance(port, int) or not 1 <= port <= 65535:
            problems.append(f"port {port} is out of range (1-65535)")
    if not w.external_ports:
        problems.append("an endpoint needs at least one external port")
    if len(set(w.external_ports)) != len(w.external_ports):
        problems.append("external ports are listed twice")
    if not w.ipv6 and not w.ipv4:
        problems.append("an endpoint must listen on IPv6, IPv4 or both")
    if w.proxy_protocol not in (None, "v2"):
        problems.append(f"proxy protocol must be v2 or none, got {w.proxy_protocol!r}")
    if problems:
        raise InvalidInput(f"endpoint {w.name}: " + "; ".join(problems),
                           hint="external and internal ports are 1-65535, e.g. --port 80 "
                           "--internal-port 8080")
    if manifest is None:
        raise NotFound(
            f"{target} has nothing deployed, so there is no workload {w.workload!r} to expose",
            hint=f"deploy first: plat deploy -f plat.toml --target {target}",
        )
    workload = manifest.workloads.get(w.workload)
    if workload is None:
        names = ", ".join(sorted(manifest.workloads)) or "none"
        raise NotFound(f"no workload {w.workload!r} in the current release of {target} "
                       f"(workloads: {names})",
                       hint="pass one of them with --workload")
    exposed = set(workload.ports) | {e.internal_port for e in manifest.endpoints
                                     if e.workload == w.workload}
    if workload.health and workload.health.port:
        exposed.add(workload.health.port)
    if w.internal_port not in exposed:
        shown = ", ".join(str(p) for p in sorted(exposed)) or "none"
        raise InvalidInput(
            f"workload {w.workload} does not expose port {w.internal_port} (its ports: {shown})",
            hint=[f"list it in plat.toml: [workloads.{w.workload}] ports = [{w.internal_port}], "
                  "and deploy", "or pick one of its ports with --internal-port"],
        )


def candidates(entry: str) -> Iterable[str]:
    """The addresses of one pool entry: itself, or the hosts of a prefix (the first 65536)."""
    net = ipaddress.ip_network(entry, strict=False)
    if net.num_addresses == 1:
        yield str(net.network_address)
        return
    for i, host in enumerate(net.hosts()):
        if i >= MAX_PREFIX_SCAN:
            return
        yield str(host)


def allocate(
    family: str, ports: tuple[int, ...], pool: tuple[str, ...], taken: Taken,
    keep: str | None = None, probe: PortProbe = any_port_free,
) -> str:
    """An address of ``pool`` where every port is free; prefixes give each endpoint its own.

    ``taken`` maps (family, address, port) to who holds it; ``keep`` is the address the endpoint
    already has (kept when still free, so a change never moves an endpoint); ``probe`` says why
    the host itself cannot listen on an address and port (another program holds it).
    """
    label = "IPv6" if family == "ipv6" else "IPv4"
    if not pool:
        raise InvalidInput(
            f"{label} was asked for but this host's {label} pool is empty",
            hint=[f"add addresses to ingress_{family} in platd.toml and restart platd",
                  f"or create the endpoint without {label}"],
        )
    used_addresses = {addr for (fam, addr, _p) in taken if fam == family}
    reasons: list[str] = []

    def free(addr: str) -> bool:
        for port in ports:
            holder = taken.get((family, addr, port))
            why = f"taken by {holder}" if holder is not None else None
            if why is None and addr != keep:
                why = probe(family, addr, port)
            if why is not None:
                shown = f"[{addr}]:{port}" if family == "ipv6" else f"{addr}:{port}"
                reasons.append(f"{shown} is {why}")
                return False
        return True

    in_pool = keep is not None and any(
        ipaddress.ip_address(keep) in ipaddress.ip_network(e, strict=False) for e in pool)
    if in_pool and keep is not None and free(keep):
        return keep
    for entry in pool:
        single = ipaddress.ip_network(entry, strict=False).num_addresses == 1
        for addr in candidates(entry):
            if not single and addr in used_addresses:
                continue  # a prefix hands each endpoint an address of its own
            if free(addr):
                return addr
    raise Conflict(
        f"no {label} address in this host's pool has port(s) "
        f"{', '.join(map(str, ports))} free: " + "; ".join(reasons[:3]),
        hint=["pick other external ports", *_free_hints(reasons)],
        details={"taken": reasons},
    )


def _free_hints(reasons: list[str]) -> list[str]:
    """How to free what holds the ports, true to who holds them: only an endpoint of this org
    shows in ``plat exposed``; a program on the host shows in ``ss``."""
    hints = []
    ports = sorted({r.split(" is ", 1)[0].rsplit(":", 1)[-1] for r in reasons
                    if "another program" in r})
    if ports:
        hints.append("or stop the program that holds " + ("it" if len(ports) == 1 else "them")
                     + ": on the host, " + "; ".join(f"ss -ltnp 'sport = :{p}'" for p in ports)
                     + " names it")
    if any("taken by endpoint " in r for r in reasons):
        hints.append("or free them: plat exposed lists this org's endpoints and their ports")
    if any("an endpoint of another org" in r for r in reasons):
        hints.append("a port held by another org's endpoint is freed only by that org")
    if any("not usable" in r for r in reasons):
        hints.append("or fix the address: it must be configured on this host (ip addr)")
    return hints


def place(w: Wanted, pools: Pools, taken: Taken, *, keep_v6: str | None = None,
          keep_v4: str | None = None, probe: PortProbe = any_port_free,
          ) -> tuple[str | None, str | None]:
    """The IPv6 and IPv4 addresses for ``w``; ``taken`` is updated so endpoints placed together
    cannot collide."""
    v6 = v4 = None
    if w.ipv6:
        v6 = allocate("ipv6", w.external_ports, pools.ipv6, taken, keep=keep_v6, probe=probe)
    if w.ipv4:
        v4 = allocate("ipv4", w.external_ports, pools.ipv4, taken, keep=keep_v4, probe=probe)
    holder = f"endpoint {w.name}"
    for port in w.external_ports:
        if v6:
            taken[("ipv6", v6, port)] = holder
        if v4:
            taken[("ipv4", v4, port)] = holder
    return v6, v4
