"""plat logs: an env's app output and platform records, history and --follow."""

from __future__ import annotations

import argparse
import time

from tui.cli.context import Ctx

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

FOLLOW_WAIT = 20.0
PAGE = 10_000  # the API's largest page; bigger --limit values are read page by page
FOLLOW_PAGE = 1000
MAX_LIMIT = 1_000_000

DESCRIPTION = """\
Show the log lines of an env: what its instances wrote to stdout and stderr (source app) and
what the platform did to it (source system: pulls, starts, health changes, crashes, OOM kills,
rollouts), interleaved in time order. Lines outlive their instances: a crashed, replaced or
removed instance keeps its lines, the last ones included, until retention removes them."""

EPILOG = """\
output, one line each (times in UTC, to the millisecond):
  2026-11-27T10:04:50.342Z app    web/4kq2m8x1zt       error connection refused
  TIME                     SOURCE WORKLOAD/INSTANCE    LEVEL MESSAGE
  Characters a terminal would act on (escape sequences, carriage returns...) are shown as
  \\xNN. A piece of a line longer than 64 KiB ends with " [continues]". --json prints one JSON
  object per line instead (seq, at, source, workload, instance, release, stream, severity,
  message, partial).

times (--since, --until): a duration ago (30s, 10m, 2h, 1d) or a timestamp
  (2026-11-27T09:30:00Z; without a zone it is UTC).

severity: read from the line (a JSON "level" field, level=..., ERROR/WARN/INFO/DEBUG prefixes);
  stderr without one counts as warn, stdout as info. --severity LEVEL shows LEVEL and above:
  debug < info < warn < error < fatal.

--follow prints the newest --limit lines, then new lines as they are stored, until Ctrl-C (exit
  130). If platd restarts or the connection drops it reconnects by itself and goes on from the
  last line shown: nothing is skipped, nothing is shown twice. A note on stderr says when the
  connection is lost and when it is back; after PLAT_RECONNECT_TIMEOUT seconds (default 60)
  without an answer it gives up (exit 10).

examples:
  plat logs                                     the last 100 lines of the default env
  plat logs -f --workload web                   follow one workload
  plat logs --instance 4kq2 --since 1h          one instance (an id prefix is enough)
  plat logs --severity error --source all       errors from the app and from the platform
  plat logs --since 2026-11-27T09:00:00Z --until 2026-11-27T09:05:00Z --limit 5000"""


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("logs", parents=[common], help="app and system log lines; --follow",
                       description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--follow", "-f", action="store_true",
                   help="keep printing new lines until Ctrl-C; survives platd restarts")
    p.add_argument("--workload", "-w", metavar="W", help="only lines of this workload")
    p.add_argument("--instance", "-i", metavar="I",
                   help="only lines of this instance (its id, or a unique prefix of it)")
    p.add_argument("--source", choices=("app", "system", "all"), default="all",
                   help="app output, platform records, or both (default all)")
    p.add_argument("--severity", "-s", metavar="LEVEL",
                   help="only lines of this level and above: debug, info, warn, error, fatal")
    p.add_argument("--since", metavar="T", help="only lines at or after T: 10m, 2h or a timestamp")
    p.add_argument("--until", metavar="T", help="only lines before T: 10m, 2h or a timestamp")
    p.add_argument("--limit", "-n", type=int, default=100, metavar="N",
                   help="how many of the newest lines (default 100)")
    p.set_defaults(handler=logs)


def logs(ctx: Ctx) -> int:
    from platd.spec.errors import InvalidInput

    a = ctx.args
    query = _filters(a)
    if not 1 <= a.limit <= MAX_LIMIT:
        raise InvalidInput(f"--limit must be between 1 and {MAX_LIMIT:,}")
    if a.follow and a.until:
        raise InvalidInput("--until cannot be used with --follow: a follow has no end",
                           hint="drop --until, or drop --follow to read a closed time range")
    target = ctx.target()
    path = ctx.client.env_path(target, "/logs")
    lines, cursor, more, dropped, first = _history(ctx, path, query, a.limit)
    if dropped:
        from tui.render.logs import dropped_lines_note

        ctx.note(dropped_lines_note(dropped))
    _show(ctx, lines)
    if a.follow and first.get("cursors") is not None:
        _follow_cluster(ctx, path, query, first)
    elif a.follow:
        _follow(ctx, path, query, cursor)
    elif more and not ctx.json and ctx.interactive:
        from tui.render.logs import older_lines_note

        ctx.note(older_lines_note(len(lines)))
    return 0


def _filters(a: argparse.Namespace) -> dict[str, Any]:
    from platd.logs.severity import LEVELS, parse_level
    from platd.spec.errors import InvalidInput
    from platd.spec.timeparse import parse_time

    now = time.time()
    since = parse_time(a.since, now) if a.since else None
    until = parse_time(a.until, now) if a.until else None
    if since is not None and until is not None and since >= until:
        raise InvalidInput(f"--since {a.since} is not before --until {a.until}",
                           hint="--since is where the lines start, --until where they stop")
    severity = None
    if a.severity:
        level = parse_level(a.severity)
        if level is None:
            raise InvalidInput(
                f"unknown severity {a.severity!r}",
                hint=f"use one of {', '.join(LEVELS)} (it shows that level and above)",
            )
        severity = next(name for name, value in LEVELS.items() if value == level)
    return {"workload": a.workload, "instance": a.instance, "source": a.source,
            "severity": severity, "since": repr(since) if since is not None else None,
            "until": repr(until) if until is not None else None}


def _history(ctx: Ctx, path: str, query: dict[str, Any], limit: int
             ) -> tuple[list[dict[str, Any]], int, bool, dict[str, Any] | None,
                        dict[str, Any]]:
    pages: list[list[dict[str, Any]]] = []
    first: dict[str, Any] = {}
    before = None
    cursor: int | None = None
    more = False
    dropped = None
    left = limit
    while left > 0:
        page = ctx.client.get(path, **query, limit=min(left, PAGE), before=before)
        dropped = page.get("dropped")
        if before is None:
            from tui.render.logs import unreachable_lines

            for note in unreachable_lines(page):
                ctx.note(note)
        if cursor is None:
            cursor = int(page["cursor"])  # a follow starts after everything stored by now
            first = page
        pages.append(page["lines"])
        left -= len(page["lines"])
        more = bool(page["more"])
        if not more or not page["lines"]:
            break
        before = page["before"]
    return ([line for page in reversed(pages) for line in page], cursor or 0, more, dropped,
            first)


def _follow(ctx: Ctx, path: str, query: dict[str, Any], cursor: int) -> None:
    from tui.cli.context import reconnecting
    from tui.follow import follow
    from tui.render.connection import RESUME_LINES

    def fetch(after: int) -> Any:
        return ctx.client.request("GET", path, query={
            **query, "after": after, "wait": FOLLOW_WAIT, "limit": FOLLOW_PAGE,
        }, timeout=FOLLOW_WAIT + 10)

    for page in follow(fetch, cursor, reconnecting(ctx, RESUME_LINES),
                       lambda page: int(page["cursor"])):
        _show(ctx, page["lines"])


def _follow_cluster(ctx: Ctx, path: str, query: dict[str, Any], first: dict[str, Any]) -> None:
    """Every host's new lines, from the cursors the history page gave (one per host)."""
    from tui.cli.context import reconnecting
    from tui.follow import follow
    from tui.render.connection import RESUME_LINES
    from tui.render.logs import follow_host_changes

    def fetch(cursors: str) -> Any:
        return ctx.client.request("GET", path, query={
            **query, "cursors": cursors, "wait": FOLLOW_WAIT, "limit": FOLLOW_PAGE,
        }, timeout=FOLLOW_WAIT + 15)

    down = {str(u["host"]) for u in first.get("unreachable") or []}
    for page in follow(fetch, first["cursors"], reconnecting(ctx, RESUME_LINES),
                       lambda page: str(page["cursors"])):
        for note in follow_host_changes(page, down):
            ctx.note(note)
        _show(ctx, page["lines"])


def _show(ctx: Ctx, lines: list[dict[str, Any]]) -> None:
    if not lines:
        return
    if ctx.json:
        import json

        ctx.line("\n".join(json.dumps(line, sort_keys=True) for line in lines))
    else:
        from tui.render.logs import log_line

        ctx.line("\n".join(log_line(line) for line in lines))
