"""The data plane's config, built from rows: every live endpoint this host serves, with the
healthy instances behind it.

The ingress controller calls ``build_config`` after every commit and hands the result to its
driver when it changed; ``draining`` holds instances about to be stopped, which get no new
connections.
"""

from __future__ import annotations

from sqlmodel import col, select

from platd.ingress.model import Backend, IngressConfig, Listener
from platd.store.db import Store
from platd.store.models import ENGINE_UNREACHABLE, Instance
from platd.store.queries import endpoint_bindings, instance_dial, live_endpoints, live_envs


def build_config(store: Store, host_id: str,
                 draining: frozenset[str] = frozenset()) -> IngressConfig:
    """Every live endpoint this host serves, with its healthy instances (minus ``draining``)."""
    with store.read() as session:
        paths = {e.env.id: e.path for e in live_envs(session)}
        rows = [r for r in live_endpoints(session) if r.host_id == host_id and r.env_id in paths]
        if not rows:
            return IngressConfig()
        env_ids = {r.env_id for r in rows}
        instances = session.exec(select(Instance).where(
            col(Instance.env_id).in_(env_ids), Instance.deleted == False,  # noqa: E712
            Instance.host_id == host_id)).all()
        listeners = []
        for r in rows:
            backends = []
            for i in instances:
                if (i.env_id, i.workload) != (r.env_id, r.workload) or i.id in draining:
                    continue
                # While the engine does not answer, what ran may well still run: keep it.
                if (i.state != "running" or i.health != "healthy") and (
                        i.state != ENGINE_UNREACHABLE):
                    continue
                # The proxy dials the instance's address on the engine's bridge network: a
                # stopped app refuses there at once (so the next instance is tried), and no
                # userland docker-proxy copies the bytes again. Without a bridge address (host
                # networking), the port published on 127.0.0.1 is used instead.
                dial = instance_dial(i, r.internal_port)
                if dial is None:
                    continue
                host, _, dial_port = dial.rpartition(":")
                backends.append(Backend(host.strip("[]"), int(dial_port), i.id))
            backends.sort()
            for fam, addr, port in endpoint_bindings(r):
                listeners.append(Listener(
                    family=fam, address=addr, port=port, endpoint_id=r.id,
                    name=f"{paths[r.env_id]} {r.name}", proxy_v2=r.proxy_protocol == "v2",
                    backends=tuple(backends),
                ))
        return IngressConfig(tuple(sorted(listeners, key=lambda x: x.key)))
