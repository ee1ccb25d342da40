"""What the manifest tests share: the DESIGN.md example, a minimal manifest, and the issues a
bad one is refused with."""

from __future__ import annotations

from typing import Any

import pytest

from platd.spec.errors import ManifestInvalid
from platd.spec.manifest import (
    parse_manifest,
)

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


# (test id, manifest text, path of the issue, its line, words its message holds)
Mistake = tuple[str, str, str, int, str]


def check_mistake(text: str, path: str, line: int, words: str) -> None:
    issue = only_issue(text)
    assert issue["path"] == path
    assert issue["line"] == line
    assert words in issue["message"]
