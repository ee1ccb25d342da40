"""Helpers for end-to-end tests against the real Docker engine and the local registry."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import Daemon

REGISTRY = "127.0.0.1:5000"
HELLO_V1 = f"{REGISTRY}/hello:v1"
HELLO_V2 = f"{REGISTRY}/hello:v2"
TARGET = "acme/shop/hello/prod"


def manifest(
    tmp: Path, *, count: int = 2, image: str = HELLO_V1, command: list[str] | None = None,
    health_path: str = "/healthz", grace: float = 30, memory: str = "64M", name: str = "plat.toml",
    secrets: bool = True, health: bool = True, min_ready: str | None = None,
) -> Path:
    lines = [
        'app = "hello"',
        "[env]",
        'required = ["GREETING"]',
    ]
    if secrets:
        lines += ["[secrets]", 'bundles = ["db"]']
    lines += [
        "[workloads.web]",
        f'image = "{image}"',
        f"count = {count}",
        "cpu = 0.25",
        f'memory = "{memory}"',
    ]
    if command is not None:
        lines.append(f"command = {json.dumps(command)}")
    if min_ready is not None:
        lines.append(f'min_ready = "{min_ready}"')
    if health:
        lines += [
            "[workloads.web.health]",
            f'http = {{ port = 8080, path = "{health_path}" }}',
            f"grace = {grace}",
            "interval = 0.5",
        ]
    path = tmp / name
    path.write_text("\n".join(lines) + "\n")
    return path


def ready_env(d: Daemon, greeting: str = "hello", password: str = "pw-1") -> None:
    d.make_env(TARGET)
    r = d.plat("use", TARGET)
    assert r.code == 0, r.err
    assert d.plat("config", "set", f"GREETING={greeting}").code == 0
    r = d.plat("secrets", "create", "db", "--set", f"PASSWORD={password}")
    assert r.code == 0, r.err


@dataclass
class Container:
    id: str
    name: str
    state: str
    release: str
    instance: str
    port: int | None
    image: str


def containers(host_id: str) -> list[Container]:
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=dev.plat.host={host_id}"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    if not ids:
        return []
    raw = subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True)
    out = []
    for c in json.loads(raw.stdout or "[]"):
        labels = c["Config"]["Labels"]
        bindings = (c["NetworkSettings"].get("Ports") or {}).get("8080/tcp") or []
        port = int(bindings[0]["HostPort"]) if bindings else None
        out.append(Container(
            c["Id"], c["Name"].lstrip("/"), c["State"]["Status"], labels["dev.plat.release"],
            labels["dev.plat.instance"], port, c["Config"]["Image"],
        ))
    return out


def running(d: Daemon) -> list[Container]:
    """The containers of ``d``'s host that are running now."""
    return [c for c in containers(d.host_id) if c.state == "running"]


def releases(d: Daemon) -> list[dict]:  # type: ignore[type-arg]
    """``plat releases --json`` of the current target, newest first."""
    return list(d.plat("releases", "--json").json()["releases"])


def docker_exec(container_id: str, *cmd: str) -> str:
    return subprocess.run(["docker", "exec", container_id, *cmd], capture_output=True,
                          text=True, check=True).stdout


def answers(port: int, path: str = "/healthz") -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


@dataclass
class HealthSampler:
    """Counts, many times a second, how many of the env's instances answer HTTP."""

    host_id: str
    samples: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> HealthSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                running = [c for c in containers(self.host_id) if c.state == "running" and c.port]
            except subprocess.CalledProcessError:
                continue
            self.samples.append(sum(1 for c in running if answers(c.port or 0)))
            time.sleep(0.05)


def wait_for(predicate, timeout: float = 30, every: float = 0.2):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s")
