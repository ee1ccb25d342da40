"""A real daemon (fake runtime) with one deployed env, and the TUI app built against it.

Snapshots must not change between runs, so the client the app uses in snapshot tests rewrites
the values that differ every run (ids, times, digests) to stable placeholders after they come
back from the real daemon over real HTTP. Nothing else about the responses is touched.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, Daemon
from tui.app import PlatApp
from tui.client import Client

TARGET = "acme/shop/hello/prod"
MANIFEST = """app = "hello"
[env]
required = ["GREETING"]
[workloads.web]
image = "127.0.0.1:5000/hello:v1"
count = 1
cpu = 0.25
memory = "64M"
[workloads.web.health]
tcp = 8080
"""
FIXED_TIME = 1_795_000_000.0
VOLATILE_IDS = {"id", "release_id", "instance_id", "container_id", "token_id"}
VOLATILE_TIMES = {"at", "created_at", "started_at", "updated_at"}


class StableClient(Client):
    """A real client whose answers have run-to-run noise replaced, for snapshots."""

    names: dict[str, str] = {}

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        # The app sends back ids it was shown: give the daemon the real ones.
        real = {stable: original for original, stable in self.names.items()}
        for stable, original in real.items():
            path = path.replace(stable, original)
        if isinstance(body, dict):
            body = {k: real.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
        return self._stable(super().request(method, path, body, **kwargs))

    def _name(self, real: str, stable: str) -> str:
        return self.names.setdefault(real, stable)

    def _stable(self, value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            # Name ids after what they are, not the order they were seen, so every run agrees.
            if isinstance(value.get("id"), str) and "seq" in value:
                self._name(value["id"], f"release-v{value['seq']}")
            if isinstance(value.get("id"), str) and "workload" in value and "state" in value:
                self._name(value["id"], f"inst-{value['workload']}-{value.get('release', '')}")
            return {k: self._stable(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self._stable(v, key) for v in value]
        if isinstance(value, str):
            if key in VOLATILE_IDS:
                return self.names.setdefault(value, f"{key.replace('_id', '')}-{len(self.names) + 1}")
            text = re.sub(r"sha256:[0-9a-f]{64}", "sha256:" + "ab" * 32, value)
            for real, stable in self.names.items():
                text = text.replace(real, stable)
            return text
        if isinstance(value, float) and key in VOLATILE_TIMES:
            return FIXED_TIME
        if key == "age_seconds" and value is not None:
            return 60.0
        return value


@pytest.fixture(scope="module")
def tui_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    tmp = tmp_path_factory.mktemp("tui")
    d = Daemon(data=tmp / "data", config_dir=tmp / "config", runtime="fake")
    d.init()
    d.start()
    try:
        d.make_env(TARGET)
        assert d.plat("config", "set", "GREETING=hi", "--target", TARGET).code == 0
        manifest = tmp / "plat.toml"
        manifest.write_text(MANIFEST)
        for image in ("v1", "v2"):
            r = d.plat("deploy", "-f", str(manifest), "--target", TARGET,
                       "--image", f"127.0.0.1:5000/hello:{image}")
            assert r.code == 0, r.err
        # The replaced instance leaves the status one pass after the rollout converges.
        for _ in range(200):
            workloads = d.plat("status", "--json", "--target", TARGET).json()["workloads"]
            if [len(w["instances"]) for w in workloads] == [1]:
                break
            time.sleep(0.05)
        yield d
    finally:
        d.stop()
        shutil.rmtree(Path("/dev/shm") / f"platd-{d.host_id[-12:]}", ignore_errors=True)


def make_app(d: Daemon, *, stable: bool = True, target: str | None = TARGET) -> PlatApp:
    cls = StableClient if stable else Client
    StableClient.names = {}
    return PlatApp(lambda: cls(d.url, d.token), "http://127.0.0.1:PORT" if stable else d.url,
                   target, token=d.token, exec_api=d.url)


__all__ = ["ROOT", "TARGET", "make_app"]
