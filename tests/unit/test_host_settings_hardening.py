"""platd.toml's settings for isolation, limits and registries: checked at start, with the
rule in the error, and the defaults a host gets without them."""

from __future__ import annotations

from pathlib import Path

import pytest

from platd.datadir import HostSettings
from platd.runtime.registry import check_allowed
from platd.spec.errors import ImageError, InvalidInput


def load(tmp_path: Path, text: str) -> HostSettings:
    path = tmp_path / "platd.toml"
    path.write_text(text)
    return HostSettings.load(path)


def test_defaults(tmp_path: Path) -> None:
    s = load(tmp_path, "")
    assert (s.instance_network_pool, s.pids_limit) == ("10.213.0.0/16", 4096)
    assert s.registries == ["127.0.0.1:5000"]


def test_the_hosts_registry_is_always_allowed(tmp_path: Path) -> None:
    s = load(tmp_path, 'registry = "reg.internal:5000/builds"\n'
                       'allowed_registries = ["ghcr.io", "REG.internal:5000"]\n')
    assert s.registries == ["reg.internal:5000", "ghcr.io"]


@pytest.mark.parametrize(("line", "rule"), [
    ('instance_network_pool = "10.213.0.0/25"', "an IPv4 prefix of /8 to /24"),
    ('instance_network_pool = "fd00::/64"', "an IPv4 prefix of /8 to /24"),
    ('instance_network_pool = "lots"', "an IPv4 prefix of /8 to /24"),
    ("pids_limit = 10", "a whole number of processes from 64 to 4194304"),
    ("pids_limit = true", "a whole number of processes from 64 to 4194304"),
    ('pids_limit = "4096"', "a whole number of processes from 64 to 4194304"),
    ('allowed_registries = "ghcr.io"', "a list of registries as host[:port]"),
    ('allowed_registries = ["http://ghcr.io"]', "a list of registries as host[:port]"),
])
def test_bad_values_stop_platd_with_the_rule(tmp_path: Path, line: str, rule: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        load(tmp_path, line + "\n")
    assert rule in refused.value.message


def test_check_allowed_compares_registry_names_case_insensitively() -> None:
    assert check_allowed("GHCR.io/team/app:v1", ["ghcr.io"]).repository == "team/app"
    with pytest.raises(ImageError, match=r"registry ghcr\.io:444 is not one this host pulls"):
        check_allowed("ghcr.io:444/team/app:v1", ["ghcr.io"])
