"""A real daemon (fake runtime) with one deployed env, and the TUI app built against it.

Snapshots must not change between runs, so the client the app uses in snapshot tests rewrites
the values that differ every run (ids, times, digests) to stable placeholders after they come
back from the real daemon over real HTTP. Nothing else about the responses is touched.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, Daemon, free_port
from tui.app import PlatApp
from tui.client import Client

TARGET = "acme/shop/hello/prod"
CANARY = "acme/shop/hello/canary"
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
    """A real client whose answers have run-to-run noise replaced, for snapshots.

    Ids are renamed from a table computed once from the daemon's history (``stable_names``),
    never in the order the app's workers happen to receive them, so every run agrees.
    """

    names: dict[str, str] = {}
    ports: dict[int, int] = {}  # endpoint ports (free ports, so they differ between runs)

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        # The app sends back ids it was shown: give the daemon the real ones.
        real = {stable: original for original, stable in self.names.items()}
        for stable, original in real.items():
            path = path.replace(stable, original)
        if isinstance(body, dict):
            body = {k: real.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
        return stable_view(super().request(method, path, body, **kwargs))


def stable_view(value: Any, key: str = "") -> Any:
    """``value`` (an API answer) with ids, times, digests and host names made constant."""
    names = StableClient.names
    if isinstance(value, dict):
        if key == "host":  # a volume's host: name and id are the machine's
            return {**value, "id": "host-0000-stable0001", "name": "edge-1"}
        if key == "usage" and value:  # a filesystem's own overhead differs between kernels
            return {**value, "used_label": "1.5M", "available_label": "958.5M",
                    "capacity_label": "960M"}
        return {k: stable_view(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [stable_view(v, key) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and value in StableClient.ports \
            and key in ("port", "external_ports"):
        return StableClient.ports[value]
    if isinstance(value, str):
        if key in VOLATILE_IDS:
            return names.get(value, f"{key.replace('_id', '')}-?")
        if key == "host":
            return "host-0000-stable0001"
        if key == "host_name":
            return "edge-1"
        text = re.sub(r"sha256:[0-9a-f]{64}", "sha256:" + "ab" * 32, value)
        for real_port, stable_port in StableClient.ports.items():
            text = text.replace(f":{real_port}", f":{stable_port}")
        for real, stable in names.items():
            text = text.replace(real, stable)
        return text
    if isinstance(value, float) and key in VOLATILE_TIMES:
        return FIXED_TIME
    if key == "age_seconds" and value is not None:
        return 60.0
    return value


def stable_names(d: Daemon, targets: list[str]) -> dict[str, str]:
    """Constant names for every release and instance id the daemon has, from its history:
    ``release-v2``; ``web-v1-a``, ``web-v1-b``... by workload, release and order of creation."""
    names: dict[str, str] = {}
    for target in targets:
        env = target.replace("/", "-")
        versions: dict[str, str] = {}
        for r in d.api("GET", f"/v1/envs/{target}/releases")[1]["releases"]:
            versions[r["id"]] = r["version"]
            names[r["id"]] = f"{env}-release-{r['version']}"
        counts: dict[tuple[str, str], int] = {}
        events = d.api("GET", f"/v1/envs/{target}/events?limit=1000")[1]["events"]
        # Instances of one pass start concurrently, so their events interleave differently
        # from run to run: letter them in the order the daemon lists them (by start time),
        # which is the order every screen shows them in.
        started = {i["id"]: i["started_at"] or 0.0
                   for w in d.api("GET", f"/v1/envs/{target}/status")[1]["workloads"]
                   for i in w["instances"]}
        first_seen: dict[str, dict[str, Any]] = {}
        for e in sorted(events, key=lambda e: e["seq"]):
            if e.get("instance_id"):
                first_seen.setdefault(e["instance_id"], e)
        for iid, e in sorted(first_seen.items(),
                             key=lambda kv: (started.get(kv[0], float("inf")), kv[1]["seq"])):
            if iid not in names:
                group = (e.get("workload") or "-", versions.get(e.get("release_id") or "", "v?"))
                n = counts.get(group, 0)
                counts[group] = n + 1
                names[iid] = f"{group[0]}-{group[1]}-{'abcdefghij'[n % 10]}".ljust(10, "0")
        for e in events:
            names.setdefault(e["id"], f"event-{e['seq']}")
    return names


@contextmanager
def deployed_daemon(tmp: Path, *, canary: bool = False,
                    resources: bool = False) -> Iterator[Daemon]:
    """A real daemon (fake runtime) with ``deploy_fixture_envs`` done; stopped, and what it
    left on the host (secret files, a mounted volume) removed, after."""
    # A platd process of its own, not one in this process: the app's workers and the daemon
    # would share one interpreter, which widens a race in the logs pane (a page requested before
    # a filter change is still written after it) enough for test_logs to see it.
    from tests.daemon_support import start_real_daemon, stop_daemon

    d = start_real_daemon(tmp)
    try:
        deploy_fixture_envs(d, tmp, canary=canary, resources=resources)
        yield d
    finally:
        if resources:
            remove_resources(d)
        stop_daemon(d)


@pytest.fixture(scope="module")
def tui_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with deployed_daemon(tmp_path_factory.mktemp("tui")) as d:
        yield d


def deploy_fixture_envs(d: Daemon, tmp: Path, *, canary: bool = False,
                        resources: bool = False) -> None:
    """TARGET with releases v1 and v2 (one instance of web); with ``canary``, also CANARY with
    one release of two instances (for the exec picker); with ``resources``, an endpoint
    ``public`` and a 1G volume ``data`` in TARGET (remove with ``remove_resources``)."""
    d.targets = [TARGET] + ([CANARY] if canary else [])  # type: ignore[attr-defined]
    for target in d.targets:  # type: ignore[attr-defined]
        d.make_env(target)
        assert d.plat("config", "set", "GREETING=hi", "--target", target).code == 0
    manifest = tmp / "plat.toml"
    manifest.write_text(MANIFEST)
    for image in ("v1", "v2"):
        r = d.plat("deploy", "-f", str(manifest), "--target", TARGET,
                   "--image", f"127.0.0.1:5000/hello:{image}")
        assert r.code == 0, r.err
    if canary:
        two = tmp / "canary.toml"
        two.write_text(MANIFEST.replace("count = 1", "count = 2"))
        r = d.plat("deploy", "-f", str(two), "--target", CANARY)
        assert r.code == 0, r.err
    if resources:
        port = free_port()
        StableClient.ports = {port: 8443}
        r = d.plat("endpoints", "create", "public", "--workload", "web", "--internal-port", "8080",
                   "--port", str(port), "--target", TARGET)
        assert r.code == 0, r.out + r.err
        r = d.plat("volumes", "create", "data", "--size", "1G", "--target", TARGET)
        assert r.code == 0, r.out + r.err
    # The replaced instance leaves the status one pass after the rollout converges.
    for target, want in ((TARGET, 1), (CANARY, 2))[: len(d.targets)]:  # type: ignore[attr-defined]
        for _ in range(200):
            workloads = d.plat("status", "--json", "--target", target).json()["workloads"]
            if [len(w["instances"]) for w in workloads] == [want] and all(
                i["health"] == "healthy" for w in workloads for i in w["instances"]
            ):
                break
            time.sleep(0.05)


def remove_resources(d: Daemon) -> None:
    """Delete what ``resources`` made while the daemon runs, then undo any mount it left."""
    import importlib.util

    d.plat("endpoints", "delete", "public", "--target", TARGET, "--yes")
    d.plat("volumes", "delete", "data", "--target", TARGET, "--yes")
    spec = importlib.util.spec_from_file_location(
        "volume_support", ROOT / "tests" / "volumes" / "volume_support.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.cleanup_volumes(d.data)


def make_app(d: Daemon, *, stable: bool = True, target: str | None = TARGET) -> PlatApp:
    """The real app on a real daemon; ``stable``: with run-to-run noise replaced (snapshots)."""
    cls = StableClient if stable else Client
    if stable:
        StableClient.names = stable_names(d, d.targets)
    app = PlatApp(lambda: cls(d.url, d.token), "http://127.0.0.1:PORT" if stable else d.url,
                  target, token=d.token, exec_api=d.url)
    if stable:
        app.present = stable_view
        app.animation_level = "none"  # the tab underline slides otherwise
    return app


__all__ = ["CANARY", "ROOT", "TARGET", "make_app"]


@pytest.fixture(autouse=True)
def _stable_svg_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich names an SVG's CSS classes after a hash of the segments' reprs, which hold style
    metadata that differs between runs of an identical screen; name them the same always."""
    import textual._doc

    take = textual._doc.take_svg_screenshot

    def take_stable(*args: Any, **kwargs: Any) -> str:
        return re.sub(r"terminal-\d+", "terminal-plat", take(*args, **kwargs))

    monkeypatch.setattr(textual._doc, "take_svg_screenshot", take_stable)
