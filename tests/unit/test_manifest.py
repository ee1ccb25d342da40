"""plat.toml parsing, the happy path: the DESIGN.md example and every field read as written;
and no input crashes the parser. Mistakes are in test_manifest_errors.py and, for endpoints and
volumes, test_manifest_resources.py."""

from __future__ import annotations

import contextlib
import json
import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from manifest_support import DESIGN_EXAMPLE, MINIMAL

from platd.spec.errors import ManifestInvalid
from platd.spec.manifest import (
    BuildSpec,
    Endpoint,
    HealthCheck,
    HttpCheck,
    Manifest,
    VolumeMount,
    Workload,
    parse_manifest,
)
from platd.spec.manifest_rules import validate

# --- the happy path ----------------------------------------------------------------------------


def test_design_example_parses_to_the_expected_manifest() -> None:
    manifest = parse_manifest(DESIGN_EXAMPLE)
    assert manifest == Manifest(
        app="hello",
        workloads={
            "web": Workload(
                name="web",
                image="127.0.0.1:5000/hello:v1",
                command=("httpd", "-f", "-p", "8080"),
                count=2,
                cpu=0.5,
                memory=128 * 1024 * 1024,
                health=HealthCheck(tcp=8080),
            )
        },
        required_env=("GREETING", "DATABASE_URL"),
        secret_bundles=("db",),
        endpoints=(
            Endpoint(
                name="public",
                workload="web",
                internal_port=8080,
                external_ports=(80,),
                ipv4=False,
                ipv6=True,
                proxy_protocol="v2",
            ),
        ),
        volumes=(VolumeMount(name="data", workload="web", mount="/data"),),
    )


def test_design_example_records_the_line_of_every_field() -> None:
    lines = parse_manifest(DESIGN_EXAMPLE).lines
    assert lines["app"] == 1
    assert lines["env.required"] == 4
    assert lines["env.required[1]"] == 4
    assert lines["secrets.bundles[0]"] == 7
    assert lines["workloads.web"] == 9
    assert lines["workloads.web.memory"] == 14
    assert lines["workloads.web.health"] == 16
    assert lines["workloads.web.health.tcp"] == 17
    assert lines["endpoints[0]"] == 19
    assert lines["endpoints[0].internal_port"] == 22
    assert lines["endpoints[0].proxy_protocol"] == 25
    assert lines["volumes[0].mount"] == 30


def test_defaults_fill_what_the_manifest_leaves_out() -> None:
    manifest = parse_manifest(MINIMAL)
    web = manifest.workloads["web"]
    assert (web.count, web.cpu, web.memory, web.command, web.health, web.ports) == (
        1,
        0.5,
        128 * 1024 * 1024,
        None,
        None,
        (),
    )
    assert manifest.required_env == ()
    assert manifest.secret_bundles == ()
    assert manifest.endpoints == ()
    assert manifest.volumes == ()
    # Without a health check an instance must stay up 10 s before it counts as ready.
    assert (web.min_ready, web.ready_after) == (None, 10.0)


@pytest.mark.parametrize(("written", "seconds"), [
    ('"1s"', 1.0), ('"500ms"', 0.5), ('"2m"', 120.0), ("3", 3.0), ("0.25", 0.25), ('"0s"', 0.0),
])
def test_min_ready_reads_a_duration_or_seconds(written: str, seconds: float) -> None:
    web = parse_manifest(MINIMAL + f"min_ready = {written}\n").workloads["web"]
    assert web.min_ready == web.ready_after == seconds


def test_a_health_check_alone_decides_readiness_unless_min_ready_is_set() -> None:
    checked = MINIMAL + "health = { tcp = 8080 }\n"
    assert parse_manifest(checked).workloads["web"].ready_after == 0.0
    web = parse_manifest(checked + 'min_ready = "5s"\n').workloads["web"]
    assert web.ready_after == 5.0


RICH = """\
app = "shop"

[workloads.api.build]
context = "services/api"
dockerfile = "Dockerfile.prod"

[workloads.api]
count = 0
cpu = 2
memory = 1073741824
ports = [9000, 9001]
min_ready = "3s"
health = { http = { port = 9000, path = "/healthz" }, interval = 5, retries = 1, grace = 60 }

[workloads.worker]
image = "registry:5000/shop/worker@sha256:abc"
memory = "1.5Gi"

[[endpoints]]
name = "api"
workload = "api"
internal_port = 9000
external_ports = [443, 8443]
ipv4 = true
ipv6 = false

[[endpoints]]
name = "admin"
workload = "api"
internal_port = 9001
external_ports = [
  9443,
  9444,
]
protocol = "tcp"

[[volumes]]
name = "cache"
workload = "worker"
mount = "/var/cache/shop/"
read_only = true
"""


def test_rich_manifest_parses_build_http_health_and_options() -> None:
    manifest = parse_manifest(RICH)
    api = manifest.workloads["api"]
    assert api.image is None
    assert api.build == BuildSpec(context="services/api", dockerfile="Dockerfile.prod")
    assert (api.count, api.cpu, api.memory, api.ports) == (0, 2.0, 1024**3, (9000, 9001))
    assert api.health == HealthCheck(
        http=HttpCheck(port=9000, path="/healthz"), interval=5.0, timeout=2.0, retries=1, grace=60.0
    )
    assert api.health.port == 9000
    assert manifest.workloads["worker"].memory == 1024**3 + 1024**3 // 2
    first, second = manifest.endpoints
    assert (first.ipv4, first.ipv6, first.external_ports) == (True, False, (443, 8443))
    assert (second.ipv4, second.ipv6, second.external_ports) == (False, True, (9443, 9444))
    assert manifest.volumes == (VolumeMount("cache", "worker", "/var/cache/shop/", True),)
    # The later [workloads.api] header defines the table the earlier .build header implied.
    assert manifest.lines["workloads.api"] == 7
    assert manifest.lines["workloads.api.health.http.path"] == 13
    assert manifest.lines["endpoints[1].external_ports[1]"] == 33
    assert api.min_ready == 3.0


@pytest.mark.parametrize("text", [DESIGN_EXAMPLE, RICH, MINIMAL])
def test_to_dict_from_dict_round_trip(text: str) -> None:
    manifest = parse_manifest(text)
    assert Manifest.from_dict(manifest.to_dict()) == manifest
    # The stored form is JSON, where tuples come back as lists.
    assert Manifest.from_dict(json.loads(json.dumps(manifest.to_dict()))) == manifest
    assert "lines" not in manifest.to_dict()


def test_validate_checks_a_decoded_document_and_reports_line_zero_without_source() -> None:
    document = json.loads(json.dumps(tomllib.loads(DESIGN_EXAMPLE)))
    assert validate(document) == parse_manifest(DESIGN_EXAMPLE)
    raw = {"app": "hello", "workloads": {"web": {"image": "nginx", "count": 101}}}
    with pytest.raises(ManifestInvalid) as caught:
        validate(raw, "release.json")
    assert caught.value.message == "release.json has 1 problem"
    assert caught.value.hint == ["workloads.web.count: must be between 0 and 100, got 101"]


# Text built from TOML's punctuation reaches the locator's and the parser's odd corners.
TOML_PIECES = [*"[]{}\"'=.,#\n \\abc01-_", "'''", '"""', "app", "workloads", " = "]
toml_ish = st.lists(st.sampled_from(TOML_PIECES)).map("".join)


@given(st.one_of(toml_ish, st.sampled_from([DESIGN_EXAMPLE, RICH]).map(lambda t: t[:-40])))
def test_parse_manifest_raises_only_manifest_invalid(text: str) -> None:
    # Any other exception escaping here would be a crash in front of the user.
    with contextlib.suppress(ManifestInvalid):
        parse_manifest(text)
