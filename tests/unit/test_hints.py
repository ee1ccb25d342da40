"""Hints name scripts/dev-services only in a checkout: a field host has no such script."""

from __future__ import annotations

from pathlib import Path

import pytest

from platd import hints


def test_a_checkout_is_pointed_at_its_dev_services_script() -> None:
    assert hints.in_checkout()  # the tests run from the checkout
    assert "scripts/dev-services" in hints.engine_hint()
    assert "scripts/dev-services" in hints.local_registry_hint()


def test_a_field_host_is_pointed_at_its_units_never_at_dev_scripts(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(hints, "_DEV_SERVICES", tmp_path / "scripts" / "dev-services")
    assert not hints.in_checkout()
    assert "systemctl start docker" in hints.engine_hint()
    for hint in (hints.engine_hint(), hints.local_registry_hint()):
        assert "scripts/" not in hint
