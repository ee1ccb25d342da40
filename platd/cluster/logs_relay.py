"""``plat logs`` over the whole cluster: each host keeps the lines of the instances it runs, so
a history read on one host asks every other live host for its lines and merges them by time.

Each line says its host. A host that does not answer (failed, cut off, slow) is named in the
answer's ``unreachable`` instead of its lines silently missing. Peers are asked in parallel
with the signed peer API (``/v1/peer/logs``); the user's right to read the env was checked by
the host the user asked, which is why the peer route takes no user token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from sqlmodel import select

from platd.cluster.transport import PeerUnreachable
from platd.store.db import Store
from platd.store.models import Host


def peers(store: Store) -> list[tuple[str, str, str]]:
    """(id, name, api) of the other hosts of the cluster."""
    with store.read() as session:
        rows = session.exec(select(Host).where(Host.deleted == False)).all()  # noqa: E712
    return [(h.id, h.name, h.api) for h in rows if h.id != store.host_id]


async def gather(
    transport: Any, store: Store, local: dict[str, Any], query: Mapping[str, Any],
    alive: list[str], limit: int,
) -> dict[str, Any]:
    """``local`` (this host's page) merged with every other host's, newest ``limit`` kept."""
    with store.read() as session:
        me = session.get(Host, store.host_id)
    lines = [{**line, "host": me.name if me else "this host"} for line in local["lines"]]
    unreachable = []
    others = peers(store)
    target = "/v1/peer/logs?" + urlencode({k: v for k, v in query.items() if v is not None})

    async def ask(host_id: str, name: str, api: str) -> tuple[str, str, Any]:
        if host_id not in alive:
            return host_id, name, PeerUnreachable(f"host {name} is not alive")
        try:
            return host_id, name, await transport.get(api, target)
        except PeerUnreachable as e:
            return host_id, name, e

    more = bool(local.get("more"))
    answers = await asyncio.gather(*(ask(*p) for p in others))
    for _host_id, name, answer in answers:
        if isinstance(answer, Exception):
            unreachable.append({"host": name, "error": str(answer)})
            continue
        lines += [{**line, "host": name} for line in answer.get("lines", [])]
        more = more or bool(answer.get("more"))
    lines.sort(key=lambda line: (line["ts_ns"], line["host"], line["seq"]))
    if len(lines) > limit:
        lines, more = lines[-limit:], True
    from platd.cluster.logs_follow import history_cursors

    # Where ``plat logs --follow`` goes on from, on every host (logs_follow.py).
    cursors = history_cursors(int(local.get("cursor") or 0),
                              {host_id: answer for host_id, _, answer in answers},
                              store.host_id)
    return {**local, "lines": lines, "more": more, "unreachable": unreachable,
            "hosts": 1 + len(others), "cursors": cursors}
