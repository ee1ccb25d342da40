"""HAProxy as the data plane: platd writes haproxy.cfg and runs haproxy in master-worker mode.

``render`` (pure) turns the same ``IngressConfig`` the built-in proxy gets into a config: one
frontend per listener in TCP mode, one backend per endpoint listener with a server per healthy
instance (``send-proxy-v2`` when asked). A change is checked with ``haproxy -c`` first, so a bad
config never reaches the running proxy, then the master is told to reload (SIGUSR2): it starts a
new worker on the same listening sockets and soft-stops the old one, which keeps serving its
established connections until they close. ``apply`` returns when the master reports the new
worker ready (``show proc`` on the master CLI), so a backend removed by a change gets no new
connection afterwards.

On a cluster (``IngressConfig.hop``) a backend may be another host's hop, always dialled with
``send-proxy-v2``; this host's own hop is one more frontend that refuses every source but the
peers, reads their PROXY v2 header (``expect-proxy``) and picks the endpoint by the header's
destination, which is the address and port the client reached on the serving host. The last
hop then sends its own PROXY v2 header to the instance when the endpoint asks for one: with the
client's address, as the serving host would have sent it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import shutil
import signal
import socket
import time
from pathlib import Path

from platd.ingress.model import ApplyResult, Backend, Hop, IngressConfig, Listener

log = logging.getLogger("platd.ingress")

HAPROXY = "haproxy"
READY_TIMEOUT = 10.0


def _section(lst: Listener) -> str:
    fam = "v6" if lst.family == "ipv6" else "v4"
    return f"ep_{lst.endpoint_id[-12:]}_{fam}_{lst.port}"


def _server(b: Backend) -> str:
    """A server's name in its backend: stable for one instance address, unique among them."""
    digest = hashlib.sha1(f"{b.instance_id}|{b.host}|{b.port}".encode()).hexdigest()[:10]
    return f"{b.instance_id or 'x'}_{digest}"


def _addr(b: Backend) -> str:
    return f"[{b.host}]:{b.port}" if ":" in b.host else f"{b.host}:{b.port}"


HOP = "hop_in"


def _hop_section(route: Listener) -> str:
    return f"hop_{_section(route)}"


def _groups(config: IngressConfig) -> dict[str, tuple[bool, tuple[Backend, ...]]]:
    """Every HAProxy backend section: name -> (PROXY v2 to its instances, its servers)."""
    out = {_section(lst): (lst.proxy_v2, lst.backends) for lst in config.listeners}
    if config.hop is not None:
        out |= {_hop_section(r): (r.proxy_v2, r.backends) for r in config.hop.routes}
    return out


def _server_line(b: Backend, proxy_v2: bool) -> str:
    extra = " send-proxy-v2" if proxy_v2 or b.hop else ""
    return f"{_addr(b)}{extra}"


def _shape(config: IngressConfig) -> tuple[tuple[object, ...], ...]:
    """What only a reload can change: the listeners and how they speak to servers."""
    hop = config.hop
    hop_shape = () if hop is None else (
        (hop.key, hop.peers, tuple((r.key, r.endpoint_id, r.proxy_v2) for r in hop.routes)),)
    return tuple(sorted((lst.key, lst.endpoint_id, lst.proxy_v2)
                        for lst in config.listeners)) + hop_shape


def _render_hop(hop: Hop) -> list[str]:
    bind = f"[{hop.address}]:{hop.port} v6only" if hop.family == "ipv6" else hop.bind
    lines = [
        f"frontend {HOP}",
        "    # endpoints served by other hosts, to this host's instances (PROXY v2 from peers)",
        f"    bind {bind}",
        f"    tcp-request connection reject unless {{ src {' '.join(hop.peers)} }}",
        "    tcp-request connection expect-proxy layer4",
    ]
    lines += [f"    use_backend {_hop_section(r)} if {{ dst {r.address} }} {{ dst_port {r.port} }}"
              for r in hop.routes]
    lines.append("")
    for r in hop.routes:
        lines += [f"backend {_hop_section(r)}", f"    # {r.name} (served by another host)",
                  "    balance roundrobin"]
        lines += [f"    server {_server(b)} {_server_line(b, r.proxy_v2)}" for b in r.backends]
        lines.append("")
    return lines


def render(config: IngressConfig, run_dir: Path) -> str:
    """haproxy.cfg for ``config``; ``run_dir`` holds the master CLI socket."""
    lines = [
        "# Written by platd: every change is replaced on the next endpoint or instance change.",
        "global",
        f"    stats socket {run_dir / 'admin.sock'} mode 600 level admin expose-fd listeners",
        "    log stderr format short local0 warning",
        "",
        "defaults",
        "    mode tcp",
        "    log global",
        "    option dontlognull",
        "    timeout connect 5s",
        # Endpoints carry any TCP protocol, including idle long-lived ones: like the built-in
        # proxy, do not cut them for idleness; TCP keep-alive finds peers that vanished.
        "    timeout client 24h",
        "    timeout server 24h",
        "    option clitcpka",
        "    option srvtcpka",
        # A backend that refuses (an instance that just stopped) is retried on another one.
        "    retries 2",
        "    option redispatch 1",
        "",
    ]
    for lst in sorted(config.listeners, key=lambda x: x.key):
        name = _section(lst)
        bind = f"[{lst.address}]:{lst.port} v6only" if lst.family == "ipv6" else lst.bind
        lines += [
            f"frontend {name}",
            f"    # {lst.name}",
            f"    bind {bind}",
            f"    default_backend {name}",
            "",
            f"backend {name}",
            "    balance roundrobin",
        ]
        for b in lst.backends:
            lines.append(f"    server {_server(b)} {_server_line(b, lst.proxy_v2)}")
        lines.append("")
    if config.hop is not None:
        lines += _render_hop(config.hop)
    return "\n".join(lines)


class HaproxyDriver:
    """Runs one haproxy master as a child of platd; see the module docstring."""

    name = "haproxy"

    def __init__(self, run_dir: Path, binary: str = HAPROXY) -> None:
        self.run_dir = run_dir
        self.binary = binary
        self.cfg = run_dir / "haproxy.cfg"
        self.master_sock = run_dir / "master.sock"
        self._proc: asyncio.subprocess.Process | None = None
        self._current: str | None = None
        self._applied: IngressConfig | None = None
        self._failed: dict[tuple[str, str, int], str] = {}
        self._parked: set[tuple[str, str]] = set()  # (backend, server) in maintenance
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        if shutil.which(self.binary) is None:
            from platd.spec.errors import InvalidInput

            raise InvalidInput(
                f"ingress_driver = \"haproxy\" but {self.binary} is not installed",
                hint="install it (apt-get install haproxy) or set ingress_driver = \"builtin\" "
                "in platd.toml",
            )
        self.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        await self._stop_orphan()

    async def _stop_orphan(self) -> None:
        """An haproxy left by a platd that was killed (-9) would hold the ports: stop it."""
        pidfile = self.run_dir / "haproxy.pid"
        try:
            pid = int(pidfile.read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            return
        if not any(arg.endswith(b"haproxy") for arg in cmdline[:1]) or \
                str(self.cfg).encode() not in cmdline:
            return
        log.warning("stopping haproxy %d left by an earlier platd", pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            await asyncio.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    async def _spawn(self, text: str) -> None:
        self.cfg.write_text(text)
        with contextlib.suppress(FileNotFoundError):
            self.master_sock.unlink()
        self._proc = await asyncio.create_subprocess_exec(
            self.binary, "-W", "-db", "-f", str(self.cfg), "-S", f"{self.master_sock},mode,600",
            "-p", str(self.run_dir / "haproxy.pid"),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, start_new_session=True,
        )
        asyncio.get_running_loop().create_task(self._log_stderr(self._proc), name="haproxy-log")
        await self._wait_ready(previous=set())

    async def _log_stderr(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        async for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            level = logging.WARNING if line.startswith(("[ALERT]", "[EMERG]")) else logging.DEBUG
            log.log(level, "haproxy: %s", line)

    async def _check(self, text: str) -> str | None:
        candidate = self.run_dir / "haproxy.cfg.new"
        candidate.write_text(text)
        proc = await asyncio.create_subprocess_exec(
            self.binary, "-c", "-q", "-f", str(candidate),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            return out.decode(errors="replace").strip() or f"haproxy -c exited {proc.returncode}"
        return None

    async def apply(self, config: IngressConfig) -> ApplyResult:
        async with self._lock:
            text = render(config, self.run_dir)
            if text == self._current and self._alive():
                return ApplyResult(dict(self._failed))
            if (self._alive() and self._applied is not None
                    and _shape(config) == _shape(self._applied)
                    and await self._update_servers(self._applied, config)):
                # Only backend sets changed: done through the runtime API, no reload, so the
                # change is immediate and exact (a drained server gets no new connection).
                self._applied, self._current = config, text
                self.cfg.write_text(text)  # what a later reload or restart starts from
                return ApplyResult(dict(self._failed))
            return await self._reload(config)

    async def _update_servers(self, old: IngressConfig, new: IngressConfig) -> bool:
        """Add, enable and park servers; False if HAProxy refused something (then reload)."""
        before = _groups(old)
        commands: list[str] = []
        parking: list[tuple[str, str]] = []
        for be, (proxy_v2, backends) in _groups(new).items():
            had = {_server(b): b for b in before[be][1]} if be in before else {}
            want = {_server(b): b for b in backends}
            for name, b in want.items():
                if name in had:
                    continue
                if (be, name) in self._parked:
                    commands.append(f"set server {be}/{name} state ready")
                    self._parked.discard((be, name))
                else:
                    commands += [f"add server {be}/{name} {_server_line(b, proxy_v2)}",
                                 f"enable server {be}/{name}"]
            for name in had.keys() - want.keys():
                commands.append(f"set server {be}/{name} state maint")
                parking.append((be, name))
        if not commands:
            return True
        out = await self._admin("; ".join(commands))
        bad = [line for line in out.splitlines()
               if line.strip() and line.strip() not in ("New server registered.",)]
        if bad:
            log.warning("haproxy refused a server change (%s); reloading instead", "; ".join(bad))
            return False
        self._parked |= set(parking)
        # Parked servers finish their connections; delete those that have none left.
        for be, name in sorted(self._parked):
            if "Server deleted." in await self._admin(f"del server {be}/{name}"):
                self._parked.discard((be, name))
        return True

    async def _admin(self, command: str) -> str:
        """A command on the current worker's stats socket (it answers, then closes)."""
        reader, writer = await asyncio.open_unix_connection(str(self.run_dir / "admin.sock"))
        try:
            writer.write(command.encode() + b"\n")
            await writer.drain()
            async with asyncio.timeout(5.0):
                return (await reader.read()).decode(errors="replace")
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _reload(self, config: IngressConfig) -> ApplyResult:
        """Write, check and load a whole new config (listeners changed, or first start)."""
        text = render(config, self.run_dir)
        failed = await self._unbindable(config)
        if failed:
            # Leave out what cannot be bound so the rest still works; report it.
            hop = config.hop if config.hop is None or config.hop.key not in failed else None
            config = IngressConfig(tuple(x for x in config.listeners if x.key not in failed),
                                   hop)
            text = render(config, self.run_dir)
        problem = await self._check(text)
        if problem is not None:
            return ApplyResult({lst.key: f"haproxy refused the config: {problem}"
                                for lst in config.listeners})
        if not self._alive():
            await self._spawn(text)
        else:
            before = await self._workers()
            (self.run_dir / "haproxy.cfg.new").replace(self.cfg)
            assert self._proc is not None
            self._proc.send_signal(signal.SIGUSR2)
            await self._wait_ready(previous=before)
        self._current, self._applied, self._failed = text, config, dict(failed)
        self._parked.clear()  # a reload starts from the servers in the file
        return ApplyResult(failed)

    async def _unbindable(self, config: IngressConfig) -> dict[tuple[str, str, int], str]:
        """Listeners that are new and whose address cannot be bound (in use, not local)."""
        old = set(re.findall(r"bind (\S+)", self._current or "")) if self._alive() else set()
        failed = {}
        binds: list[Listener | Hop] = [*config.listeners]
        if config.hop is not None:
            binds.append(config.hop)
        for lst in binds:
            bind = f"[{lst.address}]:{lst.port}" if lst.family == "ipv6" else lst.bind
            if bind in old:
                continue
            fam = socket.AF_INET6 if lst.family == "ipv6" else socket.AF_INET
            with socket.socket(fam, socket.SOCK_STREAM) as s:
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    if fam == socket.AF_INET6:
                        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    s.bind((lst.address, lst.port))
                except OSError as e:
                    failed[lst.key] = f"cannot listen on {lst.bind}: {e.strerror or e}"
        return failed

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def _master(self, command: str) -> str:
        reader, writer = await asyncio.open_unix_connection(str(self.master_sock))
        try:
            writer.write(command.encode() + b"\n")
            await writer.drain()
            # The master CLI keeps the connection open; an answer ends with an empty line.
            buf = b""
            async with asyncio.timeout(2.0):
                while not buf.endswith(b"\n\n"):
                    chunk = await reader.read(4096)
                    if not chunk:
                        break
                    buf += chunk
            return buf.decode(errors="replace")
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _workers(self) -> set[str]:
        """PIDs of the current worker(s) (not the old ones still draining), from ``show proc``."""
        try:
            text = await self._master("show proc")
        except (OSError, TimeoutError):
            return set()
        current = set()
        section = None
        for line in text.splitlines():
            if line.startswith("# workers"):
                section = "workers"
            elif line.startswith("# old workers"):
                section = "old"
            elif line.startswith("#"):
                section = None
            elif section == "workers":
                parts = line.split()
                if len(parts) >= 2 and parts[1] == "worker":
                    current.add(parts[0])
        return current

    async def _wait_ready(self, previous: set[str]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if not self._alive():
                raise RuntimeError("haproxy exited while starting (see platd's log)")
            workers = await self._workers() if self.master_sock.exists() else set()
            if workers and workers != previous:
                # The master soft-stops the old worker once the new one is up; give it a moment.
                await asyncio.sleep(0.05)
                return
            await asyncio.sleep(0.02)
        log.warning("haproxy: no new worker within %.0fs of a reload", READY_TIMEOUT)

    async def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
