"""Release diffs: what changed, in receipt words, with config values never shown."""

from __future__ import annotations

import json
from dataclasses import replace

from platd.spec.diff import ReleaseDiff, diff_releases
from platd.spec.manifest import Endpoint, HealthCheck, Manifest, VolumeMount, Workload

MIB = 1024 * 1024
WEB = Workload(name="web", image="reg/hello:v1", count=2, cpu=0.5, memory=128 * MIB)
WORKER = Workload(name="worker", image="reg/worker:v1", count=1, cpu=1.0, memory=256 * MIB)
PUBLIC = Endpoint(name="public", workload="web", internal_port=8080, external_ports=(80,))
DATA = VolumeMount(name="data", workload="web", mount="/data")

OLD = Manifest(
    app="hello",
    workloads={"web": WEB, "worker": WORKER},
    secret_bundles=("db",),
    endpoints=(PUBLIC,),
    volumes=(DATA,),
)
IMAGES = {"web": "sha256:aaa", "worker": "sha256:bbb"}
SECRET_VALUES = {"DATABASE_URL": "postgres://u:hunter2@db/x", "OLD": "s3cr3t-old"}


def test_identical_releases_have_no_changes() -> None:
    diff = diff_releases(OLD, OLD, SECRET_VALUES, dict(SECRET_VALUES), IMAGES, dict(IMAGES))
    assert diff == ReleaseDiff()
    assert diff.empty
    assert diff.lines() == ["no changes"]


def test_first_release_adds_everything() -> None:
    diff = diff_releases(None, OLD, None, {"GREETING": "hi"}, {}, IMAGES)
    assert diff.workloads_added == ("web", "worker")
    assert diff.endpoints_added == ("public",)
    assert diff.volumes_added == ("data",)
    assert diff.secret_bundles_added == ("db",)
    assert diff.config_added == ("GREETING",)
    assert diff.lines() == [
        "+ workload web (2 × 0.5 cpu, 128M)",
        "+ workload worker (1 × 1 cpu, 256M)",
        "+ endpoint public (tcp 80 -> web:8080, IPv6)",
        "+ volume data (web:/data)",
        "+ secret bundle db",
        "~ config: +GREETING",
    ]


def test_changed_removed_and_added_workloads() -> None:
    new = replace(
        OLD,
        workloads={
            "web": replace(WEB, image="reg/hello:v2", count=3),
            "api": Workload(name="api", image="reg/api:v1", count=1, cpu=0.25, memory=1536 * MIB),
        },
    )
    diff = diff_releases(OLD, new, {}, {}, IMAGES, {"web": "sha256:ccc", "api": "sha256:ddd"})
    assert diff.workloads_added == ("api",)
    assert diff.workloads_removed == ("worker",)
    assert diff.workloads_changed == {"web": ("image", "count")}
    assert diff.lines() == [
        "+ workload api (1 × 0.25 cpu, 1.5G)",
        "~ workload web: image, count",
        "- workload worker",
    ]


def test_a_new_digest_under_the_same_tag_is_an_image_change() -> None:
    diff = diff_releases(OLD, OLD, {}, {}, IMAGES, {**IMAGES, "web": "sha256:new"})
    assert diff.workloads_changed == {"web": ("image",)}
    assert diff.lines() == ["~ workload web: image"]


def test_health_and_resource_changes_name_their_fields() -> None:
    new_web = replace(WEB, cpu=1.0, memory=512 * MIB, health=HealthCheck(tcp=8080))
    new = replace(OLD, workloads={**OLD.workloads, "web": new_web})
    diff = diff_releases(OLD, new, {}, {}, IMAGES, IMAGES)
    assert diff.workloads_changed == {"web": ("cpu", "memory", "health")}


def test_endpoint_changes() -> None:
    admin = Endpoint(
        name="admin",
        workload="web",
        internal_port=9000,
        external_ports=(8443, 9443),
        ipv4=True,
        proxy_protocol="v2",
    )
    moved = replace(PUBLIC, external_ports=(80, 443), ipv4=True)
    diff = diff_releases(OLD, replace(OLD, endpoints=(moved, admin)), {}, {}, IMAGES, IMAGES)
    assert diff.endpoints_added == ("admin",)
    assert diff.endpoints_changed == {"public": ("external_ports", "ipv4")}
    assert diff.lines() == [
        "+ endpoint admin (tcp 8443,9443 -> web:9000, IPv6+IPv4, PROXY v2)",
        "~ endpoint public: external_ports, ipv4",
    ]
    gone = diff_releases(OLD, replace(OLD, endpoints=()), {}, {}, IMAGES, IMAGES)
    assert gone.lines() == ["- endpoint public"]


def test_an_ipv4_only_endpoint_says_so() -> None:
    only4 = replace(PUBLIC, ipv6=False, ipv4=True)
    diff = diff_releases(None, replace(OLD, endpoints=(only4,)), None, {}, {}, IMAGES)
    assert "+ endpoint public (tcp 80 -> web:8080, IPv4)" in diff.lines()


def test_volume_and_secret_bundle_changes() -> None:
    new = replace(
        OLD,
        volumes=(replace(DATA, read_only=True), VolumeMount("logs", "worker", "/var/log", True)),
        secret_bundles=("stripe",),
    )
    diff = diff_releases(OLD, new, {}, {}, IMAGES, IMAGES)
    assert diff.lines() == [
        "+ volume logs (worker:/var/log, read-only)",
        "~ volume data: read_only",
        "+ secret bundle stripe",
        "- secret bundle db",
    ]


def test_config_lists_keys_only_never_values() -> None:
    new_config = {"DATABASE_URL": "postgres://u:correct-horse@db/x", "GREETING": "hello-there"}
    diff = diff_releases(OLD, OLD, SECRET_VALUES, new_config, IMAGES, IMAGES)
    assert diff.config_added == ("GREETING",)
    assert diff.config_changed == ("DATABASE_URL",)
    assert diff.config_removed == ("OLD",)
    assert diff.lines() == ["~ config: +GREETING ~DATABASE_URL -OLD"]
    text = json.dumps(diff.to_dict()) + "\n".join(diff.lines()) + repr(diff)
    for value in [*SECRET_VALUES.values(), *new_config.values()]:
        assert value not in text
    for fragment in ("hunter2", "correct-horse", "hello-there", "s3cr3t"):
        assert fragment not in text


def test_unchanged_config_values_are_not_changes() -> None:
    diff = diff_releases(OLD, OLD, {"A": "1"}, {"A": "1"}, IMAGES, IMAGES)
    assert diff.config_changed == ()
    assert diff.lines() == ["no changes"]


def test_to_dict_is_json_with_lists_and_lines() -> None:
    new = replace(OLD, workloads={"web": replace(WEB, count=5)})
    data = diff_releases(OLD, new, None, {"X": "1"}, IMAGES, IMAGES).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["workloads_changed"] == {"web": ["count"]}
    assert data["workloads_removed"] == ["worker"]
    assert data["config_added"] == ["X"]
    assert data["lines"] == ["~ workload web: count", "- workload worker", "~ config: +X"]
    assert "summaries" not in data
