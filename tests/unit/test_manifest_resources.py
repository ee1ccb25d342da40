"""plat.toml mistakes in [[endpoints]] and [[volumes]], each with its path, line and words."""

from __future__ import annotations

import pytest
from manifest_support import MINIMAL, Mistake, check_mistake

RESOURCE_CASES: list[Mistake] = []

ENDPOINT = (
    "\n[[endpoints]]\nname = 'public'\nworkload = 'web'\ninternal_port = 8080\n"
    "external_ports = [80]\n"
)

RESOURCE_CASES += [
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

RESOURCE_CASES += [
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
    ("text", "path", "line", "words"), [case[1:] for case in RESOURCE_CASES],
    ids=[c[0] for c in RESOURCE_CASES],
)
def test_each_mistake_has_its_path_line_and_words(
    text: str, path: str, line: int, words: str
) -> None:
    check_mistake(text, path, line, words)
