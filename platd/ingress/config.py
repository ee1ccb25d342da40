"""The data plane's config, built from rows: every live endpoint this host serves, with the
healthy instances behind it, and on a cluster this host's hop for endpoints served elsewhere.

The ingress controller calls ``build_config`` after every commit and hands the result to its
driver when it changed; ``draining`` holds instances about to be stopped, which get no new
connections.

Cross-host: an instance on another host is reached through that host's hop (``model.Hop``):
a backend per remote instance, all pointing at its host's hop address (the host of its API
address, port ``hop_port``). Only hosts gossip says are ``alive`` count: a failed host's rows
say its instances run, but nothing would answer. Without ``alive`` (not in a cluster) there is
neither remote backend nor hop.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from sqlmodel import col, select

from platd.ingress.model import Backend, Hop, IngressConfig, Listener
from platd.store.db import Store
from platd.store.models import ENGINE_UNREACHABLE, EndpointRow, Host, Instance
from platd.store.queries import endpoint_bindings, instance_dial, live_endpoints, live_envs

DEFAULT_HOP_PORT = 7401


def build_config(store: Store, host_id: str,
                 draining: frozenset[str] = frozenset(), *,
                 alive: Iterable[str] | None = None,
                 hop_port: int = DEFAULT_HOP_PORT) -> IngressConfig:
    """Every live endpoint this host serves, with its healthy instances (minus ``draining``)
    here and, through their hosts' hops, on the ``alive`` other hosts."""
    live = frozenset(alive or ()) | {host_id}
    with store.read() as session:
        rows = [r for r in live_endpoints(session)
                if r.host_id == host_id or (alive is not None and r.host_id in live)]
        if not rows:  # most hosts most of the time: no need to read the envs
            return IngressConfig()
        paths = {e.env.id: e.path for e in live_envs(session)}
        rows = [r for r in rows if r.env_id in paths]
        if not rows:
            return IngressConfig()
        hops = _hop_addresses(session.exec(select(Host).where(
            Host.deleted == False)).all(), hop_port) if alive is not None else {}  # noqa: E712
        env_ids = {r.env_id for r in rows}
        every = [i for i in session.exec(select(Instance).where(
            col(Instance.env_id).in_(env_ids), Instance.deleted == False,  # noqa: E712
        )).all() if i.host_id in live]
    instances = [i for i in every if _serving(i) and i.id not in draining]
    # Workloads with an instance here, serving or not: their hop routes stay while instances
    # come and go (a route that comes or goes is a reload; a server is not).
    here = {(i.env_id, i.workload) for i in every if i.host_id == host_id}
    listeners: list[Listener] = []
    routes: list[Listener] = []
    for r in rows:
        mine = [i for i in instances if (i.env_id, i.workload) == (r.env_id, r.workload)]
        local = _local_backends([i for i in mine if i.host_id == host_id], r.internal_port)
        if r.host_id == host_id:
            remote = [Backend(*hops[i.host_id], i.id, hop=True) for i in mine
                      if i.host_id != host_id and i.host_id in hops]
            listeners += _listeners(r, paths[r.env_id], tuple(sorted(local + remote)))
        elif (r.env_id, r.workload) in here and host_id in hops:
            routes += _listeners(r, paths[r.env_id], tuple(sorted(local)))
    hop = None
    if routes:
        address, port = hops[host_id]
        peers = tuple(sorted({a for h, (a, _) in hops.items() if h != host_id and h in live}))
        if peers:
            family = "ipv6" if ":" in address else "ipv4"
            hop = Hop(family, address, port, peers, tuple(sorted(routes, key=lambda x: x.key)))
    return IngressConfig(tuple(sorted(listeners, key=lambda x: x.key)), hop)


def _serving(i: Instance) -> bool:
    # While the engine does not answer, what ran may well still run: keep it.
    return (i.state == "running" and i.health == "healthy") or i.state == ENGINE_UNREACHABLE


def _local_backends(instances: Sequence[Instance], internal_port: int) -> list[Backend]:
    backends = []
    for i in instances:
        # The proxy dials the instance's address on the engine's bridge network: a stopped
        # app refuses there at once (so the next instance is tried), and no userland
        # docker-proxy copies the bytes again. Without a bridge address (host networking),
        # the port published on 127.0.0.1 is used instead.
        dial = instance_dial(i, internal_port)
        if dial is None:
            continue
        host, _, dial_port = dial.rpartition(":")
        backends.append(Backend(host.strip("[]"), int(dial_port), i.id))
    return backends


def _listeners(r: EndpointRow, path: str, backends: tuple[Backend, ...]) -> list[Listener]:
    return [Listener(family=fam, address=addr, port=port, endpoint_id=r.id,
                     name=f"{path} {r.name}", proxy_v2=r.proxy_protocol == "v2",
                     backends=backends)
            for fam, addr, port in endpoint_bindings(r)]


def _hop_addresses(hosts: Sequence[Host], port: int) -> dict[str, tuple[str, int]]:
    """Host id -> (address, port) of its hop: the IP address of its API URL. A host whose API
    URL names no IP address (a DNS name) has no hop: peers match the hop's callers by IP."""
    out = {}
    for h in hosts:
        try:
            address = str(ipaddress.ip_address(urlsplit(h.api).hostname or ""))
        except ValueError:
            continue
        out[h.id] = (address, port)
    return out
