"""``plat logs --follow`` over the whole cluster: one long-polled step across every host.

A history page on a cluster ends with a cursor per host (``platd.spec.log_cursors``); each
follow step asks every host for its lines after its own cursor, at once: this host from its
log store, the others over the signed peer route (``/v1/peer/logs`` with ``after`` and
``wait``). The step answers as soon as some host has new lines (after a short moment for the
others' lines of the same instant) or a host was lost or found again, else when the wait is up.
Hosts still waiting are let go with their cursors unchanged, so nothing is skipped or repeated.

A host that cannot be reached (gossip says it is not alive, or its request failed) is named in
``unreachable`` and keeps its cursor; once it answers again, the lines it stored meanwhile come
from that cursor on. A host never reached yet (it was down when the follow began, or it joined
since) first gives its newest lines, like a history page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from platd.cluster.logs_relay import peers
from platd.cluster.transport import PeerUnreachable
from platd.spec import log_cursors
from platd.spec.log_cursors import HostCursor
from platd.store.db import Store
from platd.store.models import Host

PEER_WAIT = 20.0  # longest wait asked of a peer (the request's timeout is 5 s more)
TOGETHER = 0.05  # once a host has lines, how long the others get to give theirs
# This host's read: (after or None for the newest lines, wait seconds) -> a page.
LocalRead = Callable[[int | None, float], Awaitable[dict[str, Any]]]


async def step(transport: Any, store: Store, local: LocalRead, query: Mapping[str, Any],
               cursors: dict[str, HostCursor], alive: list[str], wait: float,
               ) -> dict[str, Any]:
    """New lines of every host after ``cursors``, each with its host; the next cursors."""
    with store.read() as session:
        me = session.get(Host, store.host_id)
    names = {store.host_id: me.name if me else "this host"}
    apis: dict[str, str] = {}
    for host_id, name, api in peers(store):
        names[host_id], apis[host_id] = name, api
    wait = max(0.0, min(wait, PEER_WAIT))

    async def ask(host_id: str) -> dict[str, Any]:
        known = cursors.get(host_id, HostCursor(None))
        # A host not reached before answers at once: its coming back is news by itself.
        w = 0.0 if known.seq is None or known.unreachable else wait
        if host_id == store.host_id:
            return await local(known.seq, w)
        if host_id not in alive:
            raise PeerUnreachable(f"host {names[host_id]} is not alive")
        q = {k: v for k, v in query.items() if v is not None}
        if known.seq is not None:
            q |= {"after": known.seq, "wait": w}
        answer: dict[str, Any] = await transport.get(
            apis[host_id], "/v1/peer/logs?" + urlencode(q), timeout=w + 5.0)
        return answer

    tasks = {asyncio.create_task(ask(h), name=f"logs-follow-{h[-12:]}"): h for h in names}
    results: dict[str, dict[str, Any] | Exception] = {}
    pending = set(tasks)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait + 6.0
    try:
        while pending:
            done, pending = await asyncio.wait(pending, timeout=max(0.0, deadline - loop.time()),
                                               return_when=asyncio.FIRST_COMPLETED)
            if not done:
                break
            news = False
            for task in done:
                host_id = tasks[task]
                results[host_id] = _outcome(task)
                news = news or _is_news(results[host_id], cursors.get(host_id))
            if news:
                if pending:
                    more, pending = await asyncio.wait(pending, timeout=TOGETHER)
                    for task in more:
                        results[tasks[task]] = _outcome(task)
                break
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    return _merge(results, cursors, names)


def _outcome(task: asyncio.Task[dict[str, Any]]) -> dict[str, Any] | Exception:
    error = task.exception()
    if error is None:
        return task.result()
    if isinstance(error, PeerUnreachable):
        return error
    raise error


def _is_news(result: dict[str, Any] | Exception, known: HostCursor | None) -> bool:
    was_unreachable = known is not None and known.unreachable
    if isinstance(result, Exception):
        return not was_unreachable
    return bool(result.get("lines")) or was_unreachable


def _merge(results: Mapping[str, dict[str, Any] | Exception],
           cursors: Mapping[str, HostCursor], names: Mapping[str, str]) -> dict[str, Any]:
    lines: list[dict[str, Any]] = []
    unreachable = []
    after: dict[str, HostCursor] = {}
    for host_id, name in names.items():
        known = cursors.get(host_id, HostCursor(None))
        result = results.get(host_id)
        if result is None:  # still waiting when the step ended: as it was
            after[host_id] = known
        elif isinstance(result, Exception):
            after[host_id] = HostCursor(known.seq, True)
        else:
            after[host_id] = HostCursor(int(result["cursor"]), False)
            lines += [{**line, "host": name} for line in result.get("lines", [])]
        if after[host_id].unreachable:
            error = result if isinstance(result, Exception) else "not reached yet"
            unreachable.append({"host": name, "error": str(error)})
    lines.sort(key=lambda line: (line["ts_ns"], line["host"], line["seq"]))
    return {"lines": lines, "cursors": log_cursors.render(after), "unreachable": unreachable,
            "hosts": len(names)}


def history_cursors(local_cursor: int, answers: Mapping[str, dict[str, Any] | Exception],
                    host_id: str) -> str:
    """The cursors a follow starts from after a history page (peers by id)."""
    after = {host_id: HostCursor(local_cursor)}
    for peer, answer in answers.items():
        after[peer] = (HostCursor(None, True) if isinstance(answer, Exception)
                       else HostCursor(int(answer.get("cursor") or 0)))
    return log_cursors.render(after)
