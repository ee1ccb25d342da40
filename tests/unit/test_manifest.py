"""plat.toml parsing: the DESIGN.md example, every kind of mistake with its path and line, and
the line locator those errors rely on."""

from __future__ import annotations

import contextlib
import json
import tomllib
from textwrap import dedent
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

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

DESIGN_EXAMPLE = """\
app = "hello"

[env]
required = ["GREETING", "DATABASE_URL"]     # deploy is refused while any is unset

[secrets]
bundles = ["db"]                            # each delivered as the file /run/secrets/db

[workloads.web]
image = "127.0.0.1:5000/hello:v1"           # or [workloads.web.build] context = "."
command = ["httpd", "-f", "-p", "8080"]     # optional; the image's default otherwise
count = 2
cpu = 0.5
memory = "128M"

[workloads.web.health]
tcp = 8080                                  # or http = { port = 8080, path = "/healthz" }

[[endpoints]]
name = "public"
workload = "web"
internal_port = 8080
external_ports = [80]
ipv4 = false                                # IPv6 is always on; IPv4 is an add-on
proxy_protocol = "v2"                       # optional

[[volumes]]
name = "data"
workload = "web"
mount = "/data"
"""

MINIMAL = 'app = "hello"\n\n[workloads.web]\nimage = "nginx:1.27"\n'


def issues_of(text: str) -> list[dict[str, Any]]:
    with pytest.raises(ManifestInvalid) as caught:
        parse_manifest(text)
    issues: list[dict[str, Any]] = caught.value.details["issues"]
    return issues


def only_issue(text: str) -> dict[str, Any]:
    issues = issues_of(text)
    assert len(issues) == 1, issues
    return issues[0]


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
    assert manifest.lines["workloads.api.health.http.path"] == 12
    assert manifest.lines["endpoints[1].external_ports[1]"] == 32


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


# --- mistakes, one at a time -------------------------------------------------------------------


def test_malformed_toml_names_file_line_and_column() -> None:
    text = 'app = "hello"\n\n[workloads.web]\nimage = nginx:1.27\n'
    with pytest.raises(ManifestInvalid) as caught:
        parse_manifest(text, "deploy/plat.toml")
    error = caught.value
    assert error.message == "deploy/plat.toml is not valid TOML: invalid value at line 4, column 9"
    assert error.hint[0] == "line 4: image = nginx:1.27"
    assert "strings need quotes" in error.hint[1]
    assert error.details["line"] == 4
    assert error.details["column"] == 9
    assert error.details["issues"] == [{"path": "", "line": 4, "message": "Invalid value"}]
    assert error.exit_code == 2


def test_malformed_toml_at_end_of_document_points_at_the_last_line() -> None:
    with pytest.raises(ManifestInvalid) as caught:
        parse_manifest('app = "hello"\ncommand = ["a"')
    assert "at line 2 (end of file)" in caught.value.message
    assert "close the array" in caught.value.hint[-1]


def test_duplicate_table_is_a_syntax_error_with_advice() -> None:
    with pytest.raises(ManifestInvalid) as caught:
        parse_manifest(MINIMAL + "\n[workloads.web]\ncount = 2\n")
    assert "line 6" in caught.value.message
    assert "may appear only once" in caught.value.hint[-1]


CASES: list[tuple[str, str, str, int, str]] = [
    (
        "unknown field with suggestion",
        MINIMAL + "cuont = 2\n",
        "workloads.web.cuont",
        5,
        "unknown field 'cuont' in [workloads.web]; did you mean 'count'?",
    ),
    (
        "unknown field without a close match",
        MINIMAL + "zzz = 2\n",
        "workloads.web.zzz",
        5,
        "unknown field 'zzz' in [workloads.web]; expected one of: build, command, count, cpu, "
        "health, image, memory, ports",
    ),
    (
        "unknown top-level table",
        MINIMAL + "\n[workload.db]\nimage = 'x'\n",
        "workload",
        6,
        "unknown field 'workload' at the top level; did you mean 'workloads'?",
    ),
    (
        "unknown field in an endpoint",
        MINIMAL
        + "\n[[endpoints]]\nname = 'p'\nworkload = 'web'\ninternal_port = 80\n"
        + "external_ports = [80]\nipv_4 = true\n",
        "endpoints[0].ipv_4",
        11,
        "unknown field 'ipv_4' in [[endpoints]]; did you mean 'ipv4'?",
    ),
    ("missing app", '[workloads.web]\nimage = "x"\n', "app", 0, "missing required field 'app'"),
    (
        "app not a string",
        MINIMAL.replace('"hello"', "3"),
        "app",
        1,
        "expected a string, got the integer 3",
    ),
    (
        "bad app name",
        MINIMAL.replace('"hello"', '"Hello_World"'),
        "app",
        1,
        'invalid app name "Hello_World": use 1-40 lowercase letters',
    ),
    (
        "bad workload name",
        MINIMAL.replace("workloads.web", "workloads.Web"),
        "workloads.Web",
        3,
        'invalid workload name "Web"',
    ),
    (
        "quoted workload name with a space",
        MINIMAL.replace("workloads.web", 'workloads."my web"'),
        'workloads."my web"',
        3,
        'invalid workload name "my web"',
    ),
    (
        "count is a string",
        MINIMAL + 'count = "2"\n',
        "workloads.web.count",
        5,
        'expected an integer, got the string "2"; remove the quotes',
    ),
    (
        "count is a boolean",
        MINIMAL + "count = true\n",
        "workloads.web.count",
        5,
        "expected an integer, got true",
    ),
    (
        "count too large",
        MINIMAL + "count = 101\n",
        "workloads.web.count",
        5,
        "must be between 0 and 100, got 101",
    ),
    ("count negative", MINIMAL + "count = -1\n", "workloads.web.count", 5, "got -1"),
    (
        "cpu zero",
        MINIMAL + "cpu = 0\n",
        "workloads.web.cpu",
        5,
        "must be more than 0 and at most 64 (cores), got 0",
    ),
    ("cpu too large", MINIMAL + "cpu = 64.5\n", "workloads.web.cpu", 5, "got 64.5"),
    ("cpu infinite", MINIMAL + "cpu = inf\n", "workloads.web.cpu", 5, "got inf"),
    (
        "cpu is a string",
        MINIMAL + 'cpu = "half"\n',
        "workloads.web.cpu",
        5,
        'expected a number, got the string "half"',
    ),
    (
        "memory below docker minimum",
        MINIMAL + 'memory = "4M"\n',
        "workloads.web.memory",
        5,
        'memory "4M" is below the minimum of 6M',
    ),
    (
        "memory empty",
        MINIMAL + 'memory = ""\n',
        "workloads.web.memory",
        5,
        'invalid memory "": it is empty; write a number with a unit, e.g. "512M"',
    ),
    (
        "memory bare number",
        MINIMAL + 'memory = "512"\n',
        "workloads.web.memory",
        5,
        'did you mean "512M"?',
    ),
    (
        "memory above maximum",
        MINIMAL + 'memory = "2T"\n',
        "workloads.web.memory",
        5,
        'memory "2T" is above the maximum of 1T',
    ),
    (
        "memory unknown unit",
        MINIMAL + 'memory = "12X"\n',
        "workloads.web.memory",
        5,
        'invalid memory "12X": unknown unit "X"',
    ),
    (
        "memory float",
        MINIMAL + "memory = 1.5\n",
        "workloads.web.memory",
        5,
        'memory must be a size like "512M"',
    ),
    (
        "port zero",
        MINIMAL + "ports = [8080, 0]\n",
        "workloads.web.ports[1]",
        5,
        "a port must be between 1 and 65535, got 0",
    ),
    (
        "port too large",
        MINIMAL + "ports = [\n  8080,\n  70000,\n]\n",
        "workloads.web.ports[1]",
        7,
        "got 70000",
    ),
    (
        "port listed twice",
        MINIMAL + "ports = [8080, 8080]\n",
        "workloads.web.ports[1]",
        5,
        "port 8080 is listed twice",
    ),
    (
        "ports not an array",
        MINIMAL + "ports = 8080\n",
        "workloads.web.ports",
        5,
        "expected an array, got the integer 8080",
    ),
    (
        "command is a string",
        MINIMAL + 'command = "httpd -f"\n',
        "workloads.web.command",
        5,
        'expected an array of strings, got the string "httpd -f"; write ["httpd", "-f"]',
    ),
    (
        "command is a shell string with quotes",
        MINIMAL + """command = "sh -c 'echo hi'"\n""",
        "workloads.web.command",
        5,
        'write ["sh", "-c", "echo hi"]',
    ),
    (
        "command has a number",
        MINIMAL + 'command = ["sleep", 5]\n',
        "workloads.web.command[1]",
        5,
        "expected a string, got the integer 5",
    ),
    (
        "command empty",
        MINIMAL + "command = []\n",
        "workloads.web.command",
        5,
        "must not be empty",
    ),
    (
        "both image and build",
        MINIMAL + '\n[workloads.web.build]\ncontext = "."\n',
        "workloads.web",
        3,
        "set either image or [workloads.web.build], not both",
    ),
    (
        "neither image nor build",
        'app = "hello"\n\n[workloads.web]\ncount = 1\n',
        "workloads.web",
        3,
        "needs an image",
    ),
    (
        "image empty",
        MINIMAL.replace('"nginx:1.27"', '""'),
        "workloads.web.image",
        4,
        "expected an image reference",
    ),
    (
        "build not a table",
        'app = "a"\n[workloads.web]\nbuild = "."\n',
        "workloads.web.build",
        3,
        'expected a table, got the string "."',
    ),
    (
        "no workloads",
        'app = "hello"\n',
        "workloads",
        0,
        "a manifest needs at least one workload",
    ),
    (
        "empty workloads table",
        'app = "hello"\n[workloads]\n',
        "workloads",
        2,
        "a manifest needs at least one workload",
    ),
    (
        "health with tcp and http",
        MINIMAL + "\n[workloads.web.health]\ntcp = 80\nhttp = { port = 80 }\n",
        "workloads.web.health",
        6,
        "set either tcp or http, not both",
    ),
    (
        "health with no probe",
        MINIMAL + "\n[workloads.web.health]\ninterval = 2\n",
        "workloads.web.health",
        6,
        "needs a probe",
    ),
    (
        "health http without port",
        MINIMAL + '\n[workloads.web.health]\nhttp = { path = "/x" }\n',
        "workloads.web.health.http.port",
        7,
        "missing required field 'port' in [workloads.web.health.http]",
    ),
    (
        "health http path relative",
        MINIMAL + '\n[workloads.web.health]\nhttp = { port = 80, path = "x" }\n',
        "workloads.web.health.http.path",
        7,
        'must start with "/", got "x"',
    ),
    (
        "health retries zero",
        MINIMAL + "\n[workloads.web.health]\ntcp = 80\nretries = 0\n",
        "workloads.web.health.retries",
        8,
        "must be at least 1, got 0",
    ),
    (
        "health interval negative",
        MINIMAL + "\n[workloads.web.health]\ntcp = 80\ninterval = -1\n",
        "workloads.web.health.interval",
        8,
        "must be more than 0 (seconds), got -1",
    ),
    (
        "health tcp port out of range",
        MINIMAL + "health.tcp = 65536\n",
        "workloads.web.health.tcp",
        5,
        "got 65536",
    ),
    (
        "env key invalid",
        'app = "hello"\n[env]\nrequired = ["OK", "db-url"]\n' + MINIMAL[13:],
        "env.required[1]",
        3,
        'invalid environment variable name "db-url"',
    ),
    (
        "env key twice",
        'app = "hello"\n[env]\nrequired = [\n  "A",\n  "A",\n]\n' + MINIMAL[13:],
        "env.required[1]",
        5,
        'environment variable "A" is listed twice',
    ),
    (
        "env required not a list",
        'app = "hello"\n[env]\nrequired = "A"\n' + MINIMAL[13:],
        "env.required",
        3,
        "expected an array",
    ),
    (
        "bundle name invalid",
        'app = "hello"\nsecrets = { bundles = ["DB"] }\n' + MINIMAL[13:],
        "secrets.bundles[0]",
        2,
        'invalid secret bundle name "DB"',
    ),
]

ENDPOINT = (
    "\n[[endpoints]]\nname = 'public'\nworkload = 'web'\ninternal_port = 8080\n"
    "external_ports = [80]\n"
)

CASES += [
    (
        "endpoint to unknown workload",
        MINIMAL + ENDPOINT.replace("'web'", "'wbe'"),
        "endpoints[0].workload",
        8,
        "no workload named \"wbe\"; did you mean 'web'?",
    ),
    (
        "endpoint to unknown workload, nothing close",
        MINIMAL + ENDPOINT.replace("'web'", "'database'"),
        "endpoints[0].workload",
        8,
        'no workload named "database"; this manifest defines: web',
    ),
    (
        "endpoint missing internal_port",
        MINIMAL + ENDPOINT.replace("internal_port = 8080\n", ""),
        "endpoints[0].internal_port",
        6,
        "missing required field 'internal_port' in [[endpoints]]",
    ),
    (
        "endpoint external ports empty",
        MINIMAL + ENDPOINT.replace("[80]", "[]"),
        "endpoints[0].external_ports",
        10,
        "needs at least one port",
    ),
    (
        "duplicate external port across endpoints",
        MINIMAL + ENDPOINT + ENDPOINT.replace("public", "other").replace("[80]", "[443, 80]"),
        "endpoints[1].external_ports[1]",
        16,
        "external port 80 is already used by endpoint 'public'",
    ),
    (
        "duplicate endpoint name",
        MINIMAL + ENDPOINT + ENDPOINT.replace("[80]", "[81]"),
        "endpoints[1].name",
        13,
        "endpoint name 'public' is already used by endpoints[0]",
    ),
    (
        "ipv6 off without ipv4",
        MINIMAL + ENDPOINT + "ipv6 = false\n",
        "endpoints[0].ipv6",
        11,
        "ipv6 = false needs ipv4 = true",
    ),
    (
        "protocol udp",
        MINIMAL + ENDPOINT + 'protocol = "udp"\n',
        "endpoints[0].protocol",
        11,
        'only "tcp" is supported, got "udp"',
    ),
    (
        "proxy protocol v1",
        MINIMAL + ENDPOINT + 'proxy_protocol = "v1"\n',
        "endpoints[0].proxy_protocol",
        11,
        'must be "v2" or left out, got the string "v1"',
    ),
    (
        "ipv4 not a boolean",
        MINIMAL + ENDPOINT + 'ipv4 = "yes"\n',
        "endpoints[0].ipv4",
        11,
        'expected true or false, got the string "yes"',
    ),
    (
        "endpoints written as one table",
        MINIMAL + ENDPOINT.replace("[[endpoints]]", "[endpoints]"),
        "endpoints",
        6,
        "write [[endpoints]] with two brackets",
    ),
]

VOLUME = "\n[[volumes]]\nname = 'data'\nworkload = 'web'\nmount = '/data'\n"

CASES += [
    (
        "volume mount relative",
        MINIMAL + VOLUME.replace("'/data'", "'data'"),
        "volumes[0].mount",
        9,
        'invalid mount "data": use an absolute path',
    ),
    (
        "volume mount root",
        MINIMAL + VOLUME.replace("'/data'", "'/'"),
        "volumes[0].mount",
        9,
        "cannot be mounted over the container's root",
    ),
    (
        "volume mount with dot-dot",
        MINIMAL + VOLUME.replace("'/data'", "'/data/../etc'"),
        "volumes[0].mount",
        9,
        'may not contain ".."',
    ),
    (
        "volume mount over secrets",
        MINIMAL + VOLUME.replace("'/data'", "'/run/secrets/db'"),
        "volumes[0].mount",
        9,
        "/run/secrets is where secret bundles are delivered",
    ),
    (
        "volume to unknown workload",
        MINIMAL + VOLUME.replace("'web'", "'db'"),
        "volumes[0].workload",
        8,
        'no workload named "db"',
    ),
    (
        "volume missing mount",
        MINIMAL + VOLUME.replace("mount = '/data'\n", ""),
        "volumes[0].mount",
        6,
        "missing required field 'mount' in [[volumes]]",
    ),
    (
        "duplicate volume name",
        MINIMAL + VOLUME + VOLUME.replace("/data", "/other"),
        "volumes[1].name",
        12,
        "volume name 'data' is already used by volumes[0]",
    ),
    (
        "two volumes on one mount",
        MINIMAL + VOLUME + VOLUME.replace("'data'", "'logs'"),
        "volumes[1].mount",
        14,
        "/data on workload 'web' is already the mount of volume 'data'",
    ),
    (
        "bad volume name",
        MINIMAL + VOLUME.replace("'data'", "'-data'"),
        "volumes[0].name",
        7,
        'invalid volume name "-data"',
    ),
    (
        "read_only not a boolean",
        MINIMAL + VOLUME + "read_only = 1\n",
        "volumes[0].read_only",
        10,
        "expected true or false, got the integer 1",
    ),
]


@pytest.mark.parametrize(
    ("text", "path", "line", "words"), [case[1:] for case in CASES], ids=[c[0] for c in CASES]
)
def test_each_mistake_has_its_path_line_and_words(
    text: str, path: str, line: int, words: str
) -> None:
    issue = only_issue(text)
    assert issue["path"] == path
    assert issue["line"] == line
    assert words in issue["message"]


def test_several_problems_are_reported_together_in_line_order() -> None:
    text = dedent(
        """\
        app = "Hello"

        [workloads.web]
        image = "nginx"
        cuont = 2
        memory = "0"

        [[endpoints]]
        name = "public"
        workload = "api"
        internal_port = 8080
        external_ports = [80]
        """
    )
    with pytest.raises(ManifestInvalid) as caught:
        parse_manifest(text)
    error = caught.value
    assert error.message == "plat.toml has 4 problems"
    assert [(i["path"], i["line"]) for i in error.details["issues"]] == [
        ("app", 1),
        ("workloads.web.cuont", 5),
        ("workloads.web.memory", 6),
        ("endpoints[0].workload", 10),
    ]
    assert error.hint[0].startswith('line 1: app: invalid app name "Hello"')
    assert error.hint[1] == (
        "line 5: workloads.web.cuont: unknown field 'cuont' in [workloads.web]; "
        "did you mean 'count'?"
    )
    assert len(error.hint) == 4


def test_problems_without_a_line_sort_last() -> None:
    issues = issues_of('[workloads.web]\nimage = "x"\ncount = 500\n')
    assert [(i["path"], i["line"]) for i in issues] == [
        ("workloads.web.count", 3),
        ("app", 0),
    ]


def test_a_non_table_entry_is_reported_once() -> None:
    issue = only_issue('app = "hello"\nendpoints = [1]\n' + MINIMAL[13:])
    assert issue == {
        "path": "endpoints[0]",
        "line": 2,
        "message": "expected a table, got the integer 1",
    }


# Text built from TOML's punctuation reaches the locator's and the parser's odd corners.
TOML_PIECES = [*"[]{}\"'=.,#\n \\abc01-_", "'''", '"""', "app", "workloads", " = "]
toml_ish = st.lists(st.sampled_from(TOML_PIECES)).map("".join)


@given(st.one_of(toml_ish, st.sampled_from([DESIGN_EXAMPLE, RICH]).map(lambda t: t[:-40])))
def test_parse_manifest_raises_only_manifest_invalid(text: str) -> None:
    # Any other exception escaping here would be a crash in front of the user.
    with contextlib.suppress(ManifestInvalid):
        parse_manifest(text)
