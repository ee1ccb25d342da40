"""Exec sessions: which instance a command may run in, and the audit trail of every session.

The byte streams never pass through here (``platd.api.exec`` bridges them). This module decides
whether the caller may exec into the instance it named, says why not in words that name the
instances that *are* running, and records who ran what, where, when and how it ended. It never
records what went over the streams.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from platd.auth.tokens import Principal
from platd.runtime.base import ExecSession, RuntimeError_
from platd.services import tenancy, tokens
from platd.services.context import ServiceContext
from platd.spec.errors import Conflict, InvalidInput, NotFound
from platd.spec.timeparse import format_age, format_utc
from platd.store import eventlog
from platd.store.models import Instance, Release

# What ``plat exec`` runs without a command: bash where the image has it, else sh.
SHELL = ("/bin/sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi")
MAX_COMMAND_TEXT = 300  # characters of the command kept in an event
MAX_SIZE = 10_000  # rows or columns of a TTY


@dataclass(frozen=True)
class ExecTarget:
    """A running instance the caller may exec into (on another host of a cluster, platd
    relays the session to that host: ``platd.api.exec``)."""

    target: str  # org/project/app/env
    env_id: str
    instance_id: str
    workload: str
    release_id: str
    release: str  # "v3"
    container_id: str
    host_id: str

    def describe(self) -> dict[str, Any]:
        return {"id": self.instance_id, "workload": self.workload, "release": self.release,
                "release_id": self.release_id, "container": self.container_id[:12],
                "host": self.host_id}


def command_text(cmd: tuple[str, ...] | list[str]) -> str:
    """The command as people read it in events; the default shell is just "shell"."""
    text = "shell" if tuple(cmd) == SHELL else shlex.join(cmd)
    return text if len(text) <= MAX_COMMAND_TEXT else text[: MAX_COMMAND_TEXT - 1] + "…"


def check_request(cmd: list[str], rows: int, cols: int) -> None:
    """What a session's start message may ask for, whoever sends it."""
    if any("\0" in arg for arg in cmd):
        raise InvalidInput("a command argument contains a NUL byte")
    if not (0 <= rows <= MAX_SIZE and 0 <= cols <= MAX_SIZE):
        raise InvalidInput(f"rows and cols must be between 0 and {MAX_SIZE}")


def list_instances(
    ctx: ServiceContext, principal: Principal, target: str, workload: str | None = None,
) -> dict[str, Any]:
    """``plat instances``: the env's instances (or one workload's), as ``plat exec`` sees them."""
    with ctx.store.read() as session:
        ref, rows, seqs = _load(session, principal, target)
    if workload is not None and not any(i.workload == workload for i in rows):
        raise _no_workload(workload, rows, ref.path)
    now = ctx.clock.time()
    return {"target": ref.path, "workload": workload,
            "instances": [_describe(i, seqs, now) for i in rows
                          if workload is None or i.workload == workload]}


def resolve(
    ctx: ServiceContext, principal: Principal, target: str, instance: str | None,
    workload: str | None = None, *, relay: bool = False,
) -> ExecTarget:
    """The instance to exec into: the one ``instance`` names (an id or a unique prefix), or
    without it the only running one of ``workload`` (of the env without a workload).

    Several running candidates are refused with the list and the exact flags that pick each
    (``details["instances"]``, so a terminal client can offer the choice): never one at random.
    """
    with ctx.store.read() as session:
        ref, rows, seqs = _load(session, principal, target)
        principal.require(ref.org.id, "deployer")
    now = ctx.clock.time()
    scope = [i for i in rows if workload is None or i.workload == workload]
    if workload is not None and not scope:
        raise _no_workload(workload, rows, ref.path)
    if instance:
        inst = _named(rows, scope, instance, ref.path, now)
    else:
        inst = _only(scope, workload, ref.path, seqs, now)
    if workload is not None and inst.workload != workload:
        raise InvalidInput(
            f"instance {inst.id} belongs to workload {inst.workload}, not {workload}",
            hint=running_hint(scope, ref.path, now, seqs),
        )
    if inst.state != "running" or not inst.container_id:
        why = f" ({inst.reason})" if inst.reason else ""
        raise Conflict(
            f"instance {inst.id} of {inst.workload} is {inst.state}{why}, not running: there is "
            "no process to exec into",
            hint=running_hint([i for i in rows if i.workload == inst.workload], ref.path, now,
                              seqs),
            details={"instance": inst.id, "state": inst.state},
        )
    if inst.host_id != ctx.host.id and not relay:
        raise Conflict(
            f"instance {inst.id} runs on host {inst.host_id}, not on this one ({ctx.host.id}); "
            "exec goes through the platd of the host that runs the instance",
            hint="point plat at that host's API: PLAT_API=http://HOST:7400 plat exec ...",
        )
    return ExecTarget(
        target=ref.path, env_id=ref.env.id, instance_id=inst.id, workload=inst.workload,
        release_id=inst.release_id, release=_version(inst, seqs),
        container_id=inst.container_id, host_id=inst.host_id,
    )


def _load(
    session: Session, principal: Principal, target: str,
) -> tuple[tenancy.EnvRef, list[Instance], dict[str, int]]:
    ref = tenancy.resolve_env(session, principal, target)
    rows = list(session.exec(
        select(Instance)
        .where(Instance.env_id == ref.env.id, Instance.deleted == False)  # noqa: E712
        .order_by(col(Instance.workload), col(Instance.started_at))
    ).all())
    releases = session.exec(select(Release).where(Release.env_id == ref.env.id))
    return ref, rows, {r.id: r.seq for r in releases}


def _no_workload(workload: str, rows: list[Instance], path: str) -> NotFound:
    names = ", ".join(sorted({i.workload for i in rows})) or "none"
    return NotFound(
        f"no instances of workload {workload!r} in {path} (workloads with instances: {names})",
        hint=f"see them with: plat status --target {path}",
    )


def _named(
    rows: list[Instance], scope: list[Instance], instance: str, path: str, now: float
) -> Instance:
    matches = [i for i in rows if i.id == instance] or [
        i for i in rows if i.id.startswith(instance)
    ]
    if not matches:
        raise NotFound(f"no instance {instance!r} in {path}", hint=running_hint(scope, path, now))
    if len(matches) > 1:
        raise InvalidInput(
            f"{instance!r} matches {len(matches)} instances in {path}: "
            f"{', '.join(i.id for i in matches)}",
            hint="give more of the id",
        )
    return matches[0]


def _only(
    scope: list[Instance], workload: str | None, path: str, seqs: dict[str, int], now: float
) -> Instance:
    what = f"workload {workload}" if workload else f"env {path}"
    running = [i for i in scope if i.state == "running"]
    if len(running) == 1:
        return running[0]
    if not running:
        states = ", ".join(f"{i.id} is {i.state}" for i in scope) or "it has none"
        raise Conflict(f"no running instance of {what} to exec into ({states})",
                       hint=f"see why with: plat status --target {path}")
    raise InvalidInput(
        f"{what} has {len(running)} running instances and plat does not pick one at random",
        hint=running_hint(running, path, now, seqs, heading="run again naming one:"),
        details={"target": path, "instances": [_describe(i, seqs, now) for i in running]},
    )


def running_hint(
    instances: list[Instance], target: str, now: float, seqs: dict[str, int] | None = None,
    heading: str = "running instances:",
) -> list[str]:
    """The running instances among ``instances``, each with the exact command that picks it."""
    running = [i for i in instances if i.state == "running"]
    if not running:
        return [f"no instance there is running; see why with: plat status --target {target}"]
    lines = [heading]
    for i in running:
        age = format_age(now - i.started_at) if i.started_at else "-"
        about = f"   # {_version(i, seqs)}, {i.health}, up {age}" if seqs is not None else ""
        lines.append(f"  plat exec {i.workload} --instance {i.id} --target {target}{about}")
    return lines


def _version(i: Instance, seqs: dict[str, int] | None) -> str:
    return f"v{seqs[i.release_id]}" if seqs and i.release_id in seqs else "?"


def _describe(i: Instance, seqs: dict[str, int], now: float) -> dict[str, Any]:
    """The same fields as the instances of ``plat status --json``."""
    return {
        "id": i.id, "workload": i.workload, "release_id": i.release_id,
        "release": _version(i, seqs), "state": i.state, "health": i.health,
        "restarts": i.restarts, "exit_code": i.exit_code, "started_at": i.started_at,
        "age_seconds": round(now - i.started_at, 1) if i.started_at else None,
        "ports": json.loads(i.ports_json), "host": i.host_id, "reason": i.reason,
        "container_id": i.container_id,
    }


async def start(
    ctx: ServiceContext, where: ExecTarget, cmd: list[str], *, tty: bool, stdin: bool,
    rows: int, cols: int, term: str | None,
) -> ExecSession:
    """Start ``cmd`` in the instance; an engine that says no (the instance just stopped or
    crashed) is a conflict that names where to look."""
    env = {"TERM": term} if tty and term else {}
    try:
        return await ctx.runtime.exec(
            where.container_id, cmd, tty=tty, stdin=stdin, env=env, rows=rows, cols=cols,
        )
    except RuntimeError_ as e:
        # The instance row said running but the engine disagrees: it just stopped or crashed.
        raise Conflict(
            f"cannot exec in instance {where.instance_id}: {e}",
            hint=f"see its state with: plat instances {where.workload} --target {where.target}",
        ) from e


def record_open(
    ctx: ServiceContext, principal: Principal, t: ExecTarget, cmd: list[str], *, tty: bool,
) -> float:
    """The event of a session that starts now; returns the start time."""
    started = ctx.clock.time()
    mode = "with a TTY" if tty else "without a TTY"
    with ctx.store.write() as session:
        eventlog.record(
            session, ctx.clock, env_id=t.env_id, release_id=t.release_id, workload=t.workload,
            instance_id=t.instance_id, step="exec", outcome="info", actor=principal.name,
            message=f"{principal.name} opened an exec session in instance {t.instance_id} "
            f"({mode}): {command_text(cmd)}",
        )
    return started


def record_close(
    ctx: ServiceContext, principal: Principal, t: ExecTarget, cmd: list[str], *, started: float,
    exit_code: int | None, ended_by: str | None = None,
) -> None:
    """The event of a session that ended now: command, start, end and exit code."""
    ended = ctx.clock.time()
    how = f"exit code {exit_code}" if exit_code is not None else "no exit code"
    if ended_by:
        how += f" ({ended_by})"
    with ctx.store.write() as session:
        eventlog.record(
            session, ctx.clock, env_id=t.env_id, release_id=t.release_id, workload=t.workload,
            instance_id=t.instance_id, step="exec", outcome="ok" if exit_code == 0 else "failed",
            actor=principal.name,
            message=f"exec session of {principal.name} in instance {t.instance_id} ended with "
            f"{how}: {command_text(cmd)}; started {format_utc(started)}, ended "
            f"{format_utc(ended)} ({ended - started:.1f}s)",
        )


def authorize(ctx: ServiceContext, bearer: str | None, target: str) -> Principal:
    """Whether ``bearer`` may still exec in ``target``: asked again while a session is open,
    whenever tokens or memberships change (``platd.api.access``)."""
    principal = tokens.principal_for(ctx, bearer)
    with ctx.store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
    principal.require(ref.org.id, "deployer")
    return principal
