"""Rows between hosts: what a peer is missing, and merging what a peer sent.

Every replicated row carries ``(hlc, origin)``; the merge keeps the larger pair, tombstones
included, so applying the same rows twice, or two sets in either order, ends in the same
database. Rows are read per origin in stamp order: a host's writes commit in stamp order (one
writer, a monotonic clock), so "every row of origin X up to stamp h" is a prefix a peer can
remember as a single high-water mark and resume from.

The wire form of a row is a plain dict of its columns (bytes as ``{"b64": ...}``), tagged with
its table; ``events.seq`` is a local cursor and never travels.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, union_all
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, col, select

from platd.store.changes import replicated_tables
from platd.store.models import ReplicationMark

LOCAL_COLUMNS = {"events": frozenset({"seq"})}

WireRow = dict[str, Any]  # {"table": name, "row": {column: value}}


def _columns(table: str, model: type[SQLModel]) -> list[str]:
    skip = LOCAL_COLUMNS.get(table, frozenset())
    return [c.name for c in model.__table__.c if c.name not in skip]  # type: ignore[attr-defined]


def _encode(row: Mapping[str, Any], names: list[str]) -> dict[str, Any]:
    return {
        n: {"b64": base64.b64encode(row[n]).decode()} if isinstance(row[n], bytes) else row[n]
        for n in names
    }


def to_wire(table: str, obj: Any) -> WireRow:
    names = _columns(table, type(obj))
    return {"table": table, "row": _encode({n: getattr(obj, n) for n in names}, names)}


def _from_wire(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: base64.b64decode(v["b64"]) if isinstance(v, dict) and "b64" in v else v
        for k, v in row.items()
    }


def rows_since(
    session: Session, origin: str, hlc: int, limit: int = 1000
) -> list[WireRow]:
    """Rows whose current version was written by ``origin`` after ``hlc``, oldest first.

    At most ``limit`` rows (more when several share the last stamp, so a page never splits
    one stamp and a peer can resume from the last stamp it got). Read with SQL Core, not the
    ORM: anti-entropy reads every table each round.
    """
    found: list[tuple[int, str, dict[str, Any]]] = []
    for table, model in replicated_tables().items():
        t = model.__table__  # type: ignore[attr-defined]
        names = _columns(table, model)
        query = (
            sa_select(*[t.c[n] for n in names])
            .where(t.c.origin == origin, t.c.hlc > hlc)
            .order_by(t.c.hlc)
            .limit(limit)
        )
        found += [(r["hlc"], table, _encode(dict(r), names))
                  for r in session.connection().execute(query).mappings()]
    found.sort(key=lambda item: item[0])
    if len(found) > limit:
        cut = found[limit - 1][0]
        found = [f for f in found if f[0] <= cut]
    return [{"table": table, "row": row} for _hlc, table, row in found]


def high_water(session: Session) -> dict[str, int]:
    """Per origin, the stamp up to which every row it wrote is here (or superseded here):
    what a peer need not send again."""
    marks: dict[str, int] = {m.origin: m.hlc for m in session.exec(select(ReplicationMark))}
    parts = [
        sa_select(m.__table__.c.origin, func.max(m.__table__.c.hlc))  # type: ignore[attr-defined]
        .group_by(m.__table__.c.origin)  # type: ignore[attr-defined]
        for m in replicated_tables().values()
    ]
    for origin, top in session.connection().execute(union_all(*parts)):
        marks[origin] = max(marks.get(origin, 0), int(top or 0))
    return marks


def merge(
    session: Session, rows: Iterable[WireRow], through: Mapping[str, int] | None = None
) -> int:
    """Merge peer rows into ``session`` (a remote write session); returns the highest stamp.

    The larger ``(hlc, origin)`` wins; a row not known here is inserted as it came.
    ``through`` says, per origin, that the rows are every row of that origin from this host's
    high-water mark up to that stamp (a ``rows_since`` answer): the mark moves there.
    """
    for origin, upto in (through or {}).items():
        mark = session.get(ReplicationMark, origin) or ReplicationMark(origin=origin, hlc=0)
        if upto > mark.hlc:
            mark.hlc = upto
            session.add(mark)
    models = replicated_tables()
    decoded: list[tuple[str, dict[str, Any]]] = []
    for item in rows:
        table = item["table"]
        if table not in models:
            raise ValueError(f"a peer sent a row of table {table!r}, which this host does not have")
        values = _from_wire(item["row"])
        for local in LOCAL_COLUMNS.get(table, ()):
            values.pop(local, None)
        decoded.append((table, values))
    # One query per table for the rows already here (a page is up to a thousand rows: a
    # lookup and a flush per row made merging ten thousand rows take seconds).
    known: dict[tuple[str, str], Any] = {}
    for table in {t for t, _ in decoded}:
        model = models[table]
        ids = list({v["id"] for t, v in decoded if t == table})
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for obj in session.exec(select(model).where(col(model.id).in_(chunk))):  # type: ignore[attr-defined]
                known[(table, obj.id)] = obj  # type: ignore[attr-defined]
    top = 0
    for table, values in decoded:
        stamp = (int(values["hlc"]), str(values["origin"]))
        top = max(top, stamp[0])
        existing = known.get((table, values["id"]))
        if existing is None:
            obj = models[table](**values)
            session.add(obj)
            known[(table, values["id"])] = obj  # the same id may come again in this batch
        elif stamp > (existing.hlc, existing.origin):
            for key, value in values.items():
                setattr(existing, key, value)
            session.add(existing)
    session.flush()
    return top


def digest(session: Session) -> str:
    """A hash of every replicated row (local columns left out): equal on two hosts exactly when
    they hold the same replicated state."""
    h = hashlib.sha256()
    for table, model in replicated_tables().items():
        names = _columns(table, model)
        for obj in session.exec(select(model).order_by(col(model.id))).all():  # type: ignore[attr-defined]
            row = to_wire(table, obj)["row"]
            h.update(json.dumps([table, [row[n] for n in names]], default=str).encode())
    return h.hexdigest()
