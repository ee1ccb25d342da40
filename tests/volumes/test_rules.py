"""The pure volume rules from tables: sizes, placement, resize, the gate and its words."""

from __future__ import annotations

import pytest

from platd.spec.errors import ConfigGateRefused, Conflict, InvalidInput
from platd.spec.gate import gate_error
from platd.spec.manifest import parse_manifest
from platd.spec.sizes import GIB, MIB
from platd.spec.volumes import (
    MIN_VOLUME,
    HostInfo,
    check_resize,
    check_volumes,
    parse_volume_size,
    place_volume,
    stop_first_reason,
)

TARGET = "acme/shop/tools/prod"


@pytest.mark.parametrize(("text", "size"), [
    ("1G", GIB), ("300M", 300 * MIB), ("1.5G", 1536 * MIB), ("2Gi", 2 * GIB),
    ("300.5M", 301 * MIB),  # rounded up to whole MiB
    (GIB, GIB),
])
def test_sizes_people_write(text: str | int, size: int) -> None:
    assert parse_volume_size(text) == size


@pytest.mark.parametrize(("text", "words"), [
    ("0", "below the minimum of 300M"),
    ("-1G", "a size cannot be negative"),
    ("100M", "below the minimum of 300M"),
    ("99999T", "above the maximum of 16T"),
    ("1.5Q", 'unknown unit "Q"'),
    ("lots", "expected a number"),
    ("", "it is empty"),
    ("1 G B", "expected a number"),
    (True, "must be a size"),
])
def test_bad_sizes_say_why(text: str | int, words: str) -> None:
    with pytest.raises(InvalidInput) as e:
        parse_volume_size(text)
    assert words in e.value.message


def test_a_size_larger_than_the_free_disk_is_refused_with_the_numbers() -> None:
    with pytest.raises(InvalidInput) as e:
        parse_volume_size("10T", free=50 * GIB)
    assert "10T is more than this host can reserve: 50G is free" in e.value.message
    assert parse_volume_size("1G", free=50 * GIB) == GIB
    assert MIN_VOLUME == 300 * MIB



HOSTS = [HostInfo("01-aaaaaaaaaaaa", "edge-1", {"region": "eu-west"}),
         HostInfo("01-bbbbbbbbbbbb", "edge-2", {"region": "us-east", "disk": "ssd"})]


@pytest.mark.parametrize(("region", "host", "chosen"), [
    (None, None, "edge-1"),  # the local host
    ("us-east", None, "edge-2"),
    (None, "edge-2", "edge-2"),
    (None, "bbbbbbbbbbbb", "edge-2"),  # the end of the id
    ("eu-west", "edge-1", "edge-1"),
])
def test_placement_meets_the_constraint(region: str | None, host: str | None, chosen: str) -> None:
    assert place_volume(HOSTS, region=region, host=host, local="01-aaaaaaaaaaaa").name == chosen


@pytest.mark.parametrize(("region", "host", "words"), [
    ("mars", None, "no host meets region=mars"),
    (None, "edge-9", "no host meets host edge-9"),
    ("us-east", "edge-1", "no host meets host edge-1 and region=us-east"),
])
def test_an_impossible_placement_lists_hosts_and_labels(
    region: str | None, host: str | None, words: str
) -> None:
    with pytest.raises(InvalidInput) as e:
        place_volume(HOSTS, region=region, host=host)
    assert e.value.message == words
    assert e.value.hint[0] == ("hosts that exist: edge-1 (aaaaaaaaaaaa): region=eu-west; "
                               "edge-2 (bbbbbbbbbbbb): disk=ssd, region=us-east")
    assert e.value.hint[1] == "regions that exist: eu-west, us-east"


def test_resize_grows_only() -> None:
    check_resize("data", GIB, 2 * GIB)
    with pytest.raises(Conflict) as e:
        check_resize("data", 2 * GIB, GIB)
    assert e.value.message == "volume data is 2G; it cannot shrink to 1G"
    assert "XFS cannot shrink" in e.value.hint[0]
    with pytest.raises(InvalidInput, match="already 1G"):
        check_resize("data", GIB, GIB)


MANIFEST = """\
app = "tools"

[workloads.db]
image = "127.0.0.1:5000/busybox:latest"
count = {count}

[workloads.web]
image = "127.0.0.1:5000/busybox:latest"
count = 3

[[volumes]]
name = "data"
workload = "db"
mount = "/data"

[[volumes]]
name = "assets"
workload = "web"
mount = "/assets"
read_only = true
"""


def test_gate_names_the_create_command_and_the_line() -> None:
    m = parse_manifest(MANIFEST.format(count=1))
    gaps = check_volumes(m, {"assets"}, TARGET)
    assert [g.describe() for g in gaps] == [
        "volume data (attached to db at plat.toml line 12) does not exist: "
        f"plat volumes create data --size 1G --target {TARGET}"]
    assert check_volumes(m, {"assets", "data"}, TARGET) == []


def test_gate_refuses_a_count_that_cannot_share_a_read_write_volume() -> None:
    m = parse_manifest(MANIFEST.format(count=2))
    (gap,) = check_volumes(m, {"assets", "data"}, TARGET)
    assert gap.kind == "count"
    assert gap.workload == "db"
    assert gap.line == 5
    assert "mounted read-write by one instance at a time" in gap.describe()
    assert gap.describe().endswith("set count = 1 for db, or mount data with read_only = true")
    # web has count 3 but mounts read-only: sharing is fine. Scale overrides the manifest.
    assert check_volumes(parse_manifest(MANIFEST.format(count=1)), {"assets", "data"}, TARGET,
                         counts={"db": 2})[0].kind == "count"
    assert check_volumes(m, {"assets", "data"}, TARGET, counts={"db": 0}) == []


def test_gate_error_is_exit_6_with_one_hint_per_gap() -> None:
    m = parse_manifest(MANIFEST.format(count=2))
    err = gate_error(check_volumes(m, set(), TARGET), TARGET)
    assert isinstance(err, ConfigGateRefused)
    assert err.exit_code == 6
    assert len(err.hint) == 4  # assets, data, the count, "nothing was changed"
    assert [g["kind"] for g in err.details["missing"]] == ["volume", "volume", "count"]


def test_stop_first_reason_is_one_sentence_naming_volume_and_mount() -> None:
    m = parse_manifest(MANIFEST.format(count=1))
    assert stop_first_reason("db", m.volumes) == (
        "db mounts volume data at /data read-write, and a volume is mounted by one instance at "
        "a time: the old instance stops before the new one starts, so expect a short gap in "
        "service")
