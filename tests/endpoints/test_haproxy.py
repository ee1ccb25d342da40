"""The HAProxy driver's own parts: the generated config, and a haproxy left by a killed platd."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from platd.ingress.haproxy import HaproxyDriver, render
from platd.ingress.model import Backend as B
from platd.ingress.model import IngressConfig, Listener
from tests.endpoints.conftest import Backend, a_first_line, free_port


def test_render_binds_v6only_and_sends_proxy_v2_only_when_asked(tmp_path: Path) -> None:
    config = IngressConfig((
        Listener("ipv6", "::1", 80, "e1", "acme/shop/hello/prod public", True,
                 (B("172.17.0.5", 8080, "inst1"), B("fd00::5", 8080, "inst2"))),
        Listener("ipv4", "127.0.0.1", 80, "e1", "acme/shop/hello/prod public", False, ()),
    ))
    text = render(config, tmp_path)
    assert "bind [::1]:80 v6only" in text
    assert "bind 127.0.0.1:80\n" in text
    servers = [line.strip() for line in text.splitlines() if line.strip().startswith("server ")]
    assert len(servers) == 2
    assert all(s.endswith("send-proxy-v2") for s in servers)
    assert any("172.17.0.5:8080" in s for s in servers)
    assert any("[fd00::5]:8080" in s for s in servers)
    assert "mode tcp" in text
    assert render(config, tmp_path) == text  # stable: unchanged input, unchanged file


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
def test_a_haproxy_left_by_a_killed_platd_is_stopped_at_start(tmp_path: Path) -> None:
    port = free_port()
    backend = Backend("b0")
    config = IngressConfig((Listener("ipv6", "::1", port, "e", "t", False,
                                     (B("127.0.0.1", backend.port, "i"),)),))

    async def body() -> str:
        first = HaproxyDriver(tmp_path / "ingress")
        await first.start()
        await first.apply(config)
        # platd dies without closing it: a new platd's driver finds the old haproxy.
        second = HaproxyDriver(tmp_path / "ingress")
        await second.start()
        result = await second.apply(config)
        assert result.failed == {}
        answer = await a_first_line("::1", port)
        await second.close()
        assert first._proc is not None
        await asyncio.wait_for(first._proc.wait(), 10)
        return answer

    try:
        assert asyncio.run(body()) == "b0"
    finally:
        backend.close()
