"""What ``describe`` says about a release and its instances in people's terms.

A release pins secret bundles by version id and instances run on hosts known by UUID; a person
reads bundle names with version numbers ("db v3") and host names ("edge-1"). These helpers turn
the one into the other for ``describe release`` and ``describe instance``.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session, select

from platd.services.context import ServiceContext
from platd.store.models import Host, Release, SecretVersion


def secret_bundles(session: Session, release: Release) -> list[dict[str, Any]]:
    """The bundles the release pins: ``[{"name": "db", "version": 3}]``, by name."""
    pinned: dict[str, str] = json.loads(release.secret_versions_json)
    out = []
    for name, version_id in sorted(pinned.items()):
        version = session.get(SecretVersion, version_id)
        out.append({"name": name, "version": version.version if version else None})
    return out


def host_names(session: Session, ctx: ServiceContext) -> dict[str, str]:
    """Host id -> name for every host this one knows (itself, and a cluster's members)."""
    names = {h.id: h.name for h in session.exec(select(Host)).all()}
    names[ctx.host.id] = ctx.host.name
    return names
