"""The storage limits in platd.toml: defaults, sizes as people write them, and a clear refusal
that names the setting (platd serve then exits 2 before it listens)."""

from __future__ import annotations

from pathlib import Path

import pytest

from platd.datadir import HostSettings
from platd.spec.errors import InvalidInput
from platd.spec.limits import Limits
from platd.spec.sizes import GIB, MIB


def _load(tmp_path: Path, text: str) -> HostSettings:
    path = tmp_path / "platd.toml"
    path.write_text(text)
    return HostSettings.load(path)


def test_defaults() -> None:
    assert HostSettings().limits() == Limits(
        env_config_max_bytes=MIB, env_secrets_max_bytes=MIB, env_logs_max_bytes=256 * MIB,
        disk_reserve=GIB, disk_min_free=256 * MIB)


def test_sizes_and_zero(tmp_path: Path) -> None:
    limits = _load(tmp_path, 'env_config_max_bytes = "64K"\nenv_logs_max_bytes = "0"\n'
                             'disk_reserve = 1048576\ndisk_min_free = "0"\n').limits()
    assert (limits.env_config_max_bytes, limits.env_logs_max_bytes, limits.disk_reserve,
            limits.disk_min_free) == (64 * 1024, 0, MIB, 0)


@pytest.mark.parametrize(("text", "words"), [
    ('disk_reserve = "lots"', "disk_reserve"),
    ('env_config_max_bytes = "1K"', "env_config_max_bytes"),
    ("env_secrets_max_bytes = true", "env_secrets_max_bytes"),
    ('disk_min_free = "-5M"', "disk_min_free"),
])
def test_a_bad_limit_is_refused_naming_the_setting(tmp_path: Path, text: str,
                                                   words: str) -> None:
    with pytest.raises(InvalidInput) as info:
        _load(tmp_path, text + "\n")
    assert words in info.value.message
    assert "platd.toml" in info.value.message
