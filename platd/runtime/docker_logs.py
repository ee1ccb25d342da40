"""Following a container's output on the Docker engine, fast enough for chatty containers.

``DockerRuntime.follow_logs`` picks one of two readers per container:

- **the json-file log, read directly** (``LogPath`` from inspect) when the container logs with
  Docker's default ``json-file`` driver and this process can read the file: the usual case for
  platd, which runs as root beside the engine. Measured on a 2-core host, the engine serves its
  logs API at roughly 15-30k lines/s because it re-decodes and re-frames every line, while
  reading the file needs no engine work at all and parses several hundred thousand lines per
  CPU-second (``bench/logs.py`` prints both). The cursor is the file's inode and byte offset, so a
  restarted platd resumes exactly where it stopped: no gap, no duplicate. The file survives
  container restarts (one file per container), so one reader follows every run of an instance.
  A reader sleeps until inotify reports a change (``inotify``; it polls where inotify is
  missing), so an idle container costs nothing and a new line is read within a millisecond.
  The reader is ``docker_log_file``.
- **the logs API** (``GET /containers/{id}/logs?follow=1&timestamps=1``) otherwise: other log
  drivers, a remote engine, rootless setups. The cursor is the newest timestamp seen and how many
  lines carried it; a resumed follow asks for ``since`` that time and skips those lines.

Both join the pieces Docker splits long lines into (16 KiB each) back into one line, cut lines
longer than ``MAX_LINE`` characters into pieces marked as continuing, and turn bytes that are not
UTF-8 into ``\\xNN`` text (json-file has already replaced them with U+FFFD by then): the parsing
is ``docker_log_lines``, the cursor ``docker_log_cursor``. This module picks the reader per
container and is the logs API reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiodocker
import aiohttp
from aiodocker.exceptions import DockerError

from platd.runtime.base import LogBatch, RuntimeError_
from platd.runtime.docker_log_cursor import Resume
from platd.runtime.docker_log_file import follow_file
from platd.runtime.docker_log_lines import Piece, join_pieces, parse_frames

WAIT_RUNNING = 0.5
WAIT_FIRST_START = 1.0


async def follow_logs(
    client: Callable[[], aiodocker.Docker], container_id: str, cursor: str | None,
    stop: asyncio.Event,
) -> AsyncIterator[LogBatch]:
    """``Runtime.follow_logs`` for Docker: the json-file reader when possible, else the API."""
    resume = Resume.parse(cursor)
    while True:
        info = await _inspect(client(), container_id)
        if info is None:
            return
        config = (info.get("HostConfig") or {}).get("LogConfig") or {}
        path = str(info.get("LogPath") or "")
        if config.get("Type", "json-file") != "json-file":
            break
        if not path:
            # Created but never started: the engine opens the log file at the first start.
            if stop.is_set():
                return
            await _sleep_unless(stop, WAIT_FIRST_START)
            continue
        if os.access(path, os.R_OK):
            async for batch in follow_file(path, resume, stop):
                yield batch
            return
        break
    async for batch in _follow_api(client, container_id, resume, stop):
        yield batch


async def _inspect(docker: aiodocker.Docker, container_id: str) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = await docker.containers.container(container_id).show()
    except DockerError as exc:
        if exc.status == 404:
            return None
        raise _error(exc, container_id) from exc
    except aiohttp.ClientError as exc:
        raise _error(exc, container_id) from exc
    return data


def _error(exc: DockerError | aiohttp.ClientError, container_id: str) -> RuntimeError_:
    from platd.runtime.docker import _error as translate

    return translate(exc, f"following the logs of container {container_id}")


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _follow_api(
    client: Callable[[], aiodocker.Docker], container_id: str, resume: Resume,
    stop: asyncio.Event,
) -> AsyncIterator[LogBatch]:
    while True:
        info = await _inspect(client(), container_id)
        if info is None:
            return
        running = bool((info.get("State") or {}).get("Running"))
        live = running and not stop.is_set()
        async for batch in _fetch(client(), container_id, resume, live):
            yield batch
        if stop.is_set() and not live:
            return
        if live:
            continue  # the container stopped: look again (it may have restarted already)
        while not stop.is_set():  # stopped: wait for a restart, a removal or the end
            await _sleep_unless(stop, WAIT_RUNNING)
            info = await _inspect(client(), container_id)
            if info is None:
                return
            if (info.get("State") or {}).get("Running"):
                break


async def _fetch(
    docker: aiodocker.Docker, container_id: str, resume: Resume, live: bool
) -> AsyncIterator[LogBatch]:
    params = {"stdout": "1", "stderr": "1", "timestamps": "1", "follow": "1" if live else "0"}
    if resume.ts:
        seconds, nanos = divmod(resume.ts, 1_000_000_000)
        params["since"] = f"{seconds}.{nanos:09d}"
    resume.start_skipping()
    held: list[Piece] = []
    buf = b""
    try:
        async with docker._query(
            f"containers/{container_id}/logs", params=params, timeout=None
        ) as response:
            async for chunk in response.content.iter_any():
                buf += chunk
                pieces, used = parse_frames(buf)
                buf = buf[used:]
                held += pieces
                lines, n = join_pieces(held, force=len(held) > 4096)
                del held[:n]
                kept = resume.accept(lines)
                if kept:
                    yield LogBatch(kept, resume.api_cursor())
    except DockerError as exc:
        if exc.status == 404:
            return
        raise _error(exc, container_id) from exc
    except aiohttp.ClientError as exc:
        raise _error(exc, container_id) from exc
    lines, _ = join_pieces(held, force=True)
    kept = resume.accept(lines)
    if kept:
        yield LogBatch(kept, resume.api_cursor())
