"""Start, watch and stop the one ``serf agent`` process that gives this host its membership.

platd owns its agent: ``start()`` writes the config and keyring (mode 0600) into the agent's
state directory, starts ``serf agent`` and returns once its RPC answers; ``run()`` is the
long-lived task that restarts it with backoff if it ever exits; ``stop()`` ends it, leaving the
cluster only when asked. The agent dies with platd (``PR_SET_PDEATHSIG``): a host whose daemon
is gone must not go on looking alive to its peers.

    STATE/serf.json      the agent's config (holds the RPC auth key)
    STATE/keyring.json   the gossip keyring; written once, Serf rewrites it when keys rotate
    STATE/snapshot       Serf's snapshot: known members and clocks, for rejoining after a restart
                         (flushed lazily: after a crash it may lack recent peers, so platd
                         should also pass the peers it knows as ``retry_join`` or ``join``)
    STATE/serf.log       the agent's output (the previous run's is serf.log.1)
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import time
from collections.abc import Sequence
from pathlib import Path

from platd.gossip.agent_config import AgentConfig, AgentSecrets, render_config
from platd.gossip.errors import AgentFailed, AuthFailed, ConnectionLost, RequestTimedOut
from platd.gossip.serf_rpc import SerfClient, SocketOpener

__all__ = ["SerfAgent"]

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_LOG_ROTATE_BYTES = 1 << 20
_BACKOFF_MAX = 30.0
_HEALTHY_AFTER = 60.0  # an agent that ran this long restarts without backoff


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class SerfAgent:
    """One supervised ``serf agent`` for one platd.

    ``command_prefix`` runs it through another program (the cluster tests use
    ``ip netns exec NAME``) and ``opener`` opens RPC connections the same way.
    """

    def __init__(
        self,
        config: AgentConfig,
        secrets: AgentSecrets,
        state_dir: Path,
        *,
        serf: str = "serf",
        command_prefix: Sequence[str] = (),
        opener: SocketOpener | None = None,
        start_timeout: float = 20.0,
    ) -> None:
        self.config = config
        self._secrets = secrets
        self.state_dir = state_dir
        self._serf = serf
        self._prefix = tuple(command_prefix)
        self._opener = opener
        self._start_timeout = start_timeout
        self._proc: asyncio.subprocess.Process | None = None
        self._started_at = 0.0
        self._stopping = False
        self.starts = 0  # successful starts, by start() or by run()

    @property
    def config_file(self) -> Path:
        return self.state_dir / "serf.json"

    @property
    def keyring_file(self) -> Path:
        return self.state_dir / "keyring.json"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "serf.log"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def start(self) -> None:
        """Write the config, start the agent and wait until its RPC answers (``AgentFailed``
        with the end of its log if it exits or stays silent)."""
        if self.running:
            return
        self._stopping = False
        self._write_files()
        await self._spawn()
        await self._wait_ready()
        self.starts += 1

    async def connect(self, *, timeout: float = 10.0) -> SerfClient:
        """A new authenticated RPC connection to this agent (close it when done)."""
        return await SerfClient.connect(
            self.config.rpc_addr,
            auth_key=self._secrets.rpc_auth,
            timeout=timeout,
            opener=self._opener,
        )

    async def run(self) -> None:
        """Keep the agent running until ``stop()``; cancelling this task stops the agent.

        Starts it first if ``start()`` was not called. An exit, or a start that fails, is
        logged and retried after 1 s, doubling up to 30 s (back to 1 s after a minute up).
        """
        delay = 1.0
        try:
            while True:
                if not self.running:
                    try:
                        await self.start()
                    except AgentFailed as exc:
                        log.error("serf agent %s did not start: %s", self.config.node_name, exc)
                proc = self._proc
                if proc is not None and proc.returncode is None:
                    code = await proc.wait()
                    if self._stopping:
                        return
                    if time.monotonic() - self._started_at > _HEALTHY_AFTER:
                        delay = 1.0
                    log.warning(
                        "serf agent %s exited with %s; restarting in %gs. Its last words: %s",
                        self.config.node_name, code, delay, self._log_tail(5),
                    )
                await asyncio.sleep(delay)
                if self._stopping:
                    return
                delay = min(delay * 2, _BACKOFF_MAX)
        except asyncio.CancelledError:
            await self.stop()
            raise

    async def stop(self, *, leave: bool = False, timeout: float = 10.0) -> None:
        """Stop the agent. ``leave=True`` first leaves the cluster gracefully (peers see it
        ``left``, not ``failed``, and it does not rejoin by itself on its next start)."""
        self._stopping = True
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        if leave:
            with contextlib.suppress(ConnectionLost, RequestTimedOut, AuthFailed):
                client = await self.connect(timeout=timeout)
                try:
                    await client.leave()  # the agent shuts down by itself afterwards
                finally:
                    await client.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), timeout)
        await _terminate(proc, timeout)

    # -- private

    def _write_files(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        rendered = render_config(
            self.config,
            self._secrets,
            keyring_file=self.keyring_file,
            snapshot_file=self.state_dir / "snapshot",
        )
        _write_private(self.config_file, json.dumps(rendered, indent=2) + "\n")
        if not self.keyring_file.exists():
            _write_private(self.keyring_file, json.dumps(list(self._secrets.keyring)) + "\n")
        if self.log_file.exists() and self.log_file.stat().st_size > _LOG_ROTATE_BYTES:
            self.log_file.replace(self.log_file.with_suffix(".log.1"))

    async def _spawn(self) -> None:
        serf = shutil.which(self._serf)
        if serf is None:
            raise AgentFailed(
                f"the {self._serf!r} program is not installed",
                hint="install the Debian package serf (scripts/setup does)",
            )
        argv = [*self._prefix, serf, "agent", f"-config-file={self.config_file}"]
        with self.log_file.open("ab") as out:
            out.write(f"--- platd starts serf agent {self.config.node_name}\n".encode())
            out.flush()
            self._proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,  # a Ctrl-C meant for platd is platd's to handle
                preexec_fn=_die_with_parent,
            )
        self._started_at = time.monotonic()

    async def _wait_ready(self) -> None:
        proc = self._proc
        assert proc is not None
        deadline = time.monotonic() + self._start_timeout
        pause = 0.02
        while True:
            if proc.returncode is not None:
                raise AgentFailed(
                    f"the serf agent exited with {proc.returncode} as it started: "
                    f"{self._log_tail(3)}",
                    hint=f"see {self.log_file}",
                )
            try:
                client = await self.connect(timeout=1.0)
            except (ConnectionLost, RequestTimedOut, AuthFailed):
                # AuthFailed: another agent still holds the port; ours will exit or take over.
                pass
            else:
                try:
                    await client.members()
                    return
                except (ConnectionLost, RequestTimedOut):
                    pass
                finally:
                    await client.close()
            if time.monotonic() > deadline:
                await _terminate(proc, 5.0)
                raise AgentFailed(
                    f"the serf agent's RPC at {self.config.rpc_addr} did not answer within "
                    f"{self._start_timeout:g}s",
                    hint=f"see {self.log_file}",
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.25)

    def _log_tail(self, lines: int) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no log)"
        tail = " | ".join(line.strip() for line in text.splitlines()[-lines:] if line.strip())
        for secret in (self._secrets.rpc_auth, *self._secrets.keyring):
            tail = tail.replace(secret, "<redacted>")
        return tail or "(empty log)"


async def _terminate(proc: asyncio.subprocess.Process, timeout: float) -> None:
    """SIGTERM (the agent shuts down without leaving), then SIGKILL after ``timeout``."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(fd, 0o600)
        f.write(text)
