"""Logs: one stream of app output and platform records per env, kept beyond instances.

    runtime.follow_logs ─► Collector ─┐
                                      ├─► LogStore (DATA/logs.db) ─► query ─► GET .../logs
    state events ──────► EventMirror ─┘        ▲ Retention (age, size)

- ``severity``: the level of a line, read from the line (pure; the CLI uses its names).
- ``store``: the SQLite file, its writer thread and readers.
- ``collector``: one follower per container; drained before a container is removed.
- ``mirror``: system lines from the event log.
- ``retention``: age and size limits, oldest lines first, in small steps.
- ``query``: history pages and follow steps.
- ``service``: the whole of it as the daemon runs it, and the reads the API serves.

The package imports its parts lazily, so ``platd.logs.severity`` stays cheap for the CLI.
See docs/logs.md for the user's side.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from platd.logs.service import LogParams, LogService

__all__ = ["LogParams", "LogService"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from platd.logs import service

        return getattr(service, name)
    raise AttributeError(f"module 'platd.logs' has no attribute {name!r}")
