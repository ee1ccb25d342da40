"""The hostile-input corpus: manifests, request bodies, query strings and secret values that a
careless or malicious client sends, each with the words its refusal must contain.

Cases are data so the corpus grows by adding lines; ``test_hostile_corpus.py`` runs each one
against a daemon and checks the refusal, the state before and after, and the daemon's log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

# A manifest the daemon accepts for the test env: every case below breaks one thing in it.
BASE = """\
app = "hello"

[env]
required = ["GREETING"]

[secrets]
bundles = ["db"]

[workloads.web]
image = "127.0.0.1:5000/hello:v1"
count = 1
cpu = 0.25
memory = "64M"
command = ["httpd", "-f", "-p", "8080"]

[workloads.web.health]
http = { port = 8080, path = "/healthz" }
"""


@dataclass(frozen=True)
class Case:
    """One request: ``body`` is sent byte for byte; the answer must be ``status`` (or any
    4xx when 0) in the wire format, with ``code`` and every one of ``words`` in its message,
    hint or issues."""

    id: str
    method: str
    path: str  # "{t}" is the env's API path, "{org}" its org
    body: bytes | None = None
    status: int = 422
    code: str = "invalid_input"
    words: tuple[str, ...] = ()


def _swap(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new)


def _deploy_body(manifest: str) -> bytes:
    return json.dumps({"manifest": manifest}).encode()


# (id, manifest text, words the refusal names: usually the field path and the line)
MANIFESTS: list[tuple[str, str, tuple[str, ...]]] = [
    # what runs inside instances
    ("health path CRLF", _swap('path = "/healthz"', 'path = "/healthz\\r\\nHost: evil"'),
     ("workloads.web.health.http.path", "line 17", "carriage return")),
    ("health path LF", _swap('path = "/healthz"', 'path = "/a\\nb"'), ("line feed",)),
    ("health path NUL", _swap('path = "/healthz"', 'path = "/a\\u0000"'), ("NUL",)),
    ("health path tab", _swap('path = "/healthz"', 'path = "/a\\tb"'), ("tab",)),
    ("health path space", _swap('path = "/healthz"', 'path = "/a b"'), ("space",)),
    ("health path DEL", _swap('path = "/healthz"', 'path = "/a\\u007f"'), ("0x7f",)),
    ("health path relative", _swap('path = "/healthz"', 'path = "healthz"'), ("start with",)),
    ("health path huge", _swap('path = "/healthz"', f'path = "/{"a" * 3000}"'), ("2048",)),
    ("command NUL", _swap('"httpd", "-f"', '"httpd\\u0000x", "-f"'),
     ("workloads.web.command[0]", "line 14", "NUL")),
    ("command NUL in later arg", _swap('"-p", "8080"', '"-p", "80\\u000080"'),
     ("workloads.web.command[3]",)),
    ("command huge arg", _swap('"-p", "8080"', f'"-p", "{"x" * 70000}"'), ("KiB",)),
    ("command string", _swap('command = ["httpd", "-f", "-p", "8080"]', 'command = "httpd -f"'),
     ("expected an array of strings",)),
    ("command empty", _swap('command = ["httpd", "-f", "-p", "8080"]', "command = []"),
     ("must not be empty",)),
    ("command numbers", _swap('"-p", "8080"', '"-p", 8080'), ("expected a string",)),
    ("command nested", _swap('"-p", "8080"', '"-p", ["8080"]'), ("expected a string",)),
    ("image NUL", _swap('image = "127.0.0.1:5000/hello:v1"', 'image = "hello\\u0000:v1"'),
     ("workloads.web.image", "image reference")),
    ("image spaces", _swap('image = "127.0.0.1:5000/hello:v1"', 'image = "hello v1"'),
     ("image reference",)),
    ("image empty", _swap('image = "127.0.0.1:5000/hello:v1"', 'image = ""'),
     ("image reference",)),
    ("image newline", _swap('image = "127.0.0.1:5000/hello:v1"', 'image = "a\\nb"'),
     ("image reference",)),
    *[(f"volume over {where}", BASE + f'\n[[volumes]]\nname = "v"\nworkload = "web"\n'
       f'mount = "{where}"\n', ("volumes[0].mount", "line 22", reason))
      for where, reason in [("/proc", "/proc is the kernel's"), ("/proc/self", "/proc"),
                            ("/sys", "/sys is"), ("/sys/fs/cgroup", "/sys"), ("/dev", "/dev"),
                            ("/dev/shm", "/dev"), ("//proc", "/proc"), ("/proc/.", "/proc"),
                            ("/./sys", "/sys"), ("/", "root"), ("///", "root"),
                            ("/run/secrets", "secret bundles"), ("/run/secrets/x", "secret"),
                            ("data", "absolute"), ("/a/../proc", "may not contain"),
                            ("", "absolute"),
                            ("/da\\u0000ta", "NUL"), ("/da\\nta", "line feed"),
                            ("/da\\rta", "carriage return")]],
    # build contexts and dockerfiles
    *[(f"build {key} {value}", _swap('image = "127.0.0.1:5000/hello:v1"',
                                      f'build = {{ {key} = "{value}" }}'),
       (f"workloads.web.build.{key}", reason))
      for key, value, reason in [("context", "/etc", "relative"),
                                 ("context", "../..", "stay inside"),
                                 ("context", "a/../../b", "stay inside"),
                                 ("context", "/", "relative"),
                                 ("context", "a\\u0000b", "NUL"),
                                 ("dockerfile", "/etc/passwd", "relative"),
                                 ("dockerfile", "../Dockerfile", "stay inside"),
                                 ("dockerfile", "x/../../y", "stay inside"),
                                 ("dockerfile", "D\\nockerfile", "line feed"),
                                 ("context", "", "must not be empty")]],
    # structure and types
    ("nested arrays", BASE + "x = " + "[" * 5000 + "]" * 5000 + "\n", ("64 deep",)),
    ("nested inline tables", BASE + "x = " + "{a = " * 500 + "1" + "}" * 500 + "\n",
     ("64 deep",)),
    ("nested array 60 deep", BASE + "x = " + "[" * 60 + "]" * 60 + "\n", ("unknown field 'x'",)),
    ("not toml", "this is not toml at all", ("not valid TOML",)),
    ("binary garbage", "\x01\x02\x03\x04", ("not valid TOML",)),
    ("NUL in text", BASE + "\x00\n", ("not valid TOML",)),
    ("empty", "", ("app",)),
    ("only comment", "# nothing\n", ("app",)),
    ("no workloads", 'app = "hello"\n', ("at least one workload",)),
    ("workloads empty table", 'app = "hello"\n[workloads]\n', ("at least one workload",)),
    ("workloads array", 'app = "hello"\nworkloads = [1]\n', ("table of workloads",)),
    ("app missing", BASE.replace('app = "hello"\n', ""), ("missing required field 'app'",)),
    ("app wrong type", _swap('app = "hello"', "app = 1"), ("expected a string",)),
    ("app bad name", _swap('app = "hello"', 'app = "Hello World"'), ("invalid app name",)),
    ("duplicate key", 'app = "again"\n' + BASE, ("not valid TOML", "line 2")),
    ("unknown top field", BASE + "surprise = true\n", ("unknown field 'surprise'",)),
    ("unknown workload field", _swap("count = 1", "count = 1\nprivileged = true"),
     ("unknown field 'privileged'",)),
    ("workload bad name", _swap("[workloads.web]", "[workloads.WEB]").replace(
        "[workloads.web.health]", "[workloads.WEB.health]"), ("invalid workload name",)),
    ("count negative", _swap("count = 1", "count = -1"), ("workloads.web.count",)),
    ("count huge", _swap("count = 1", "count = 99999999999999999"), ("between 0 and 100",)),
    ("count float", _swap("count = 1", "count = 1.5"), ("expected an integer",)),
    ("count string", _swap("count = 1", 'count = "2"'), ("remove the quotes",)),
    ("count bool", _swap("count = 1", "count = true"), ("expected an integer",)),
    ("cpu nan", _swap("cpu = 0.25", "cpu = nan"), ("workloads.web.cpu",)),
    ("cpu inf", _swap("cpu = 0.25", "cpu = inf"), ("workloads.web.cpu",)),
    ("cpu -inf", _swap("cpu = 0.25", "cpu = -inf"), ("workloads.web.cpu",)),
    ("cpu zero", _swap("cpu = 0.25", "cpu = 0"), ("workloads.web.cpu",)),
    ("cpu huge", _swap("cpu = 0.25", "cpu = 1e300"), ("workloads.web.cpu",)),
    # a share that rounds to NanoCpus=0 would be read by Docker as "unlimited"
    ("cpu 1e-300", _swap("cpu = 0.25", "cpu = 1e-300"), ("workloads.web.cpu", "0.01")),
    ("cpu under 0.01", _swap("cpu = 0.25", "cpu = 0.001"), ("workloads.web.cpu", "0.01")),
    ("cpu over 64", _swap("cpu = 0.25", "cpu = 64.5"), ("workloads.web.cpu", "64")),
    ("memory under 6M", _swap('memory = "64M"', 'memory = "1K"'), ("workloads.web.memory",)),
    ("memory nonsense", _swap('memory = "64M"', 'memory = "lots"'), ("workloads.web.memory",)),
    ("memory huge", _swap('memory = "64M"', 'memory = "99999999999999T"'),
     ("workloads.web.memory",)),
    ("memory negative", _swap('memory = "64M"', "memory = -1"), ("workloads.web.memory",)),
    ("health port 0", _swap("port = 8080, path", "port = 0, path"), ("between 1 and 65535",)),
    ("health port huge", _swap("port = 8080, path", "port = 70000, path"),
     ("between 1 and 65535",)),
    ("health both", _swap("http = {", "tcp = 8080\nhttp = {"), ("either tcp or http",)),
    ("health interval nan", _swap("http = {", "interval = nan\nhttp = {"),
     ("workloads.web.health.interval",)),
    ("health timeout inf", _swap("http = {", "timeout = inf\nhttp = {"),
     ("workloads.web.health.timeout",)),
    ("health retries zero", _swap("http = {", "retries = 0\nhttp = {"), ("at least 1",)),
    ("required env bad key", _swap('required = ["GREETING"]', 'required = ["A-B"]'),
     ("invalid environment variable name",)),
    ("required env not list", _swap('required = ["GREETING"]', 'required = "GREETING"'),
     ("expected an array",)),
    ("bundle bad name", _swap('bundles = ["db"]', 'bundles = ["../db"]'),
     ("invalid secret bundle name",)),
    ("endpoint single table", BASE + '\n[endpoints]\nname = "e"\n', ("two brackets",)),
    ("endpoint unknown workload", BASE + '\n[[endpoints]]\nname = "e"\nworkload = "nope"\n'
     "internal_port = 8080\nexternal_ports = [8081]\n", ("no workload named",)),
    ("endpoint port 0", BASE + '\n[[endpoints]]\nname = "e"\nworkload = "web"\n'
     "internal_port = 0\nexternal_ports = [8081]\n", ("between 1 and 65535",)),
    ("endpoint udp", BASE + '\n[[endpoints]]\nname = "e"\nworkload = "web"\n'
     'internal_port = 8080\nexternal_ports = [8081]\nprotocol = "udp"\n', ("is supported",)),
    ("another app", _swap('app = "hello"', 'app = "other"'), ("other",)),
]

BODIES: list[Case] = [
    # nesting, refused before parsing (and so before the route's own checks)
    *[Case(f"deep {shape} {route}", method, path, body, words=("more than 32 deep",))
      for shape, body in [("arrays", b"[" * 100_000 + b"]" * 100_000),
                          ("objects", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
                          ("unclosed", b"[" * 200_000),
                          ("mixed", b'[{"a":' * 20_000),
                          ("in a field", b'{"set": {"A": ' + b"[" * 1000 + b"]" * 1000 + b"}}"),
                          ("33 deep", b"[" * 33 + b"]" * 33)]
      for route, method, path in [("config", "PATCH", "{t}/config"),
                                  ("deploy", "POST", "{t}/deploy"),
                                  ("tokens", "POST", "/v1/tokens")]],
    # brackets inside strings are not nesting: these reach the route and fail there
    Case("brackets in a string", "PATCH", "{t}/config",
         json.dumps({"set": {"A": "[" * 5000}, "x": 1}).encode(), words=("x",)),
    # numbers JSON cannot carry, or that overflow
    Case("NaN literal", "POST", "{t}/scale", b'{"workload": "web", "cpu": NaN}',
         words=("malformed",)),
    Case("Infinity literal", "POST", "{t}/scale", b'{"workload": "web", "cpu": Infinity}',
         words=("malformed",)),
    Case("-Infinity literal", "POST", "{t}/scale", b'{"workload": "web", "cpu": -Infinity}',
         words=("malformed",)),
    Case("1e999", "POST", "{t}/scale", b'{"workload": "web", "cpu": 1e999}',
         words=("out of range",)),
    # resource limits the engine would not hold (NanoCpus=0 is "unlimited" to Docker)
    *[Case(f"scale cpu {cpu}", "POST", "{t}/scale",
           b'{"workload": "web", "cpu": ' + cpu.encode() + b"}", words=("0.01 to 64 cores",))
      for cpu in ("1e-10", "1e-300", "0", "0.009", "-1", "64.001", "1e300")],
    *[Case(f"scale memory {memory}", "POST", "{t}/scale",
           json.dumps({"workload": "web", "memory": memory}).encode(), words=("memory",))
      for memory in ("1K", "5M", "0", "2T", "lots", "-64M")],
    Case("count 2^64", "POST", "{t}/scale",
         b'{"workload": "web", "count": 18446744073709551616}'),
    Case("count -2^63", "POST", "{t}/scale",
         b'{"workload": "web", "count": -9223372036854775809}'),
    Case("count 10^30", "POST", "{t}/scale", b'{"workload": "web", "count": 1e30}',
         words=("count",)),
    # text that is not text
    Case("invalid UTF-8", "PATCH", "{t}/config", b'{"set": {"A": "\xff\xfe"}}'),
    Case("lone surrogate value", "PATCH", "{t}/config", b'{"set": {"A": "\\ud800"}}'),
    Case("lone surrogate key", "PATCH", "{t}/config", b'{"set": {"\\ud800": "x"}}'),
    Case("NUL value", "PATCH", "{t}/config", b'{"set": {"A": "a\\u0000b"}}', words=("NUL",)),
    Case("NUL key", "PATCH", "{t}/config", b'{"set": {"A\\u0000": "b"}}'),
    Case("NUL bundle name", "POST", "{t}/secrets",
         b'{"name": "d\\u0000b", "values": {"K": "v"}}', words=("secret bundle name",)),
    Case("NUL secret value", "POST", "{t}/secrets",
         b'{"name": "cache", "values": {"K": "a\\u0000"}}', words=("NUL",)),
    Case("lone surrogate secret", "POST", "{t}/secrets",
         b'{"name": "cache", "values": {"K": "\\udfff"}}'),
    Case("NUL tree name", "POST", "/v1/tree/orgs", b'{"path": "a\\u0000"}'),
    Case("NUL workload to scale", "POST", "{t}/scale", b'{"workload": "w\\u0000", "count": 1}',
         status=404, code="not_found"),
    Case("NUL manifest", "POST", "{t}/deploy", b'{"manifest": "\\u0000"}',
         code="manifest_invalid"),
    Case("surrogate manifest", "POST", "{t}/deploy", b'{"manifest": "app = \\"\\ud800\\""}'),
    Case("NUL image override", "POST", "{t}/deploy",
         json.dumps({"manifest": BASE, "images": {"web": "a\x00b"}}).encode()),
    Case("newline image override", "POST", "{t}/deploy",
         json.dumps({"manifest": BASE, "images": {"web": "a\nb"}}).encode()),
    Case("image override for no workload", "POST", "{t}/deploy",
         json.dumps({"manifest": BASE, "images": {"nope": "x:1"}}).encode(), words=("nope",)),
    Case("image override too long", "POST", "{t}/deploy",
         json.dumps({"manifest": BASE, "images": {"web": "a" * 600}}).encode(),
         words=("512",)),
    Case("image override empty", "POST", "{t}/deploy",
         json.dumps({"manifest": BASE, "images": {"web": ""}}).encode(),
         words=("image reference",)),
    # shapes
    Case("duplicate keys", "PATCH", "{t}/config", b'{"set": {"A": "1"}, "set": 5}'),
    Case("trailing garbage", "PATCH", "{t}/config", b'{"set": {}} {"set": {}}'),
    Case("BOM", "PATCH", "{t}/config", b'\xef\xbb\xbf{"set": {"A": "b"}}'),
    Case("bare word", "PATCH", "{t}/config", b"true"),
    Case("huge key count", "PATCH", "{t}/config",
         json.dumps({"set": {f"K{i}": "v" for i in range(600)}}).encode(), words=("500",)),
    Case("value over 64 KiB", "POST", "{t}/secrets",
         json.dumps({"name": "cache", "values": {"K": "x" * 70_000}}).encode(), words=("K",)),
    Case("body over 1 MiB", "PATCH", "{t}/config",
         json.dumps({"set": {"A": "x" * (1024 * 1024 + 10)}}).encode(), status=413,
         words=("too large",)),
    Case("rollback to garbage", "POST", "{t}/rollback", b'{"release": "\\u0000"}',
         status=404, code="not_found"),
    Case("token for a bad role", "POST", "/v1/tokens", b'{"org": "{org}", "role": "god"}'),
    Case("tree kind unknown", "POST", "/v1/tree/galaxies", b'{"path": "x"}', status=0,
         code=""),
    *[Case(f"deploy {name}", "POST", "{t}/deploy", _deploy_body(text),
           code="manifest_invalid" if name != "another app" else "invalid_input", words=words)
      for name, text, words in MANIFESTS],
]

QUERIES: list[Case] = [
    *[Case(f"events {q}", "GET", "{t}/events?" + q, words=words) for q, words in [
        ("after=9223372036854775808", ("after",)), ("after=-1", ("after",)),
        ("after=1.5", ("after",)), ("after=abc", ("after",)),
        ("after=99999999999999999999999999", ("after",)), ("limit=0", ("limit",)),
        ("limit=-5", ("limit",)), ("limit=99999999999", ("limit",)),
        ("wait=nan", ("wait",)), ("wait=inf", ("wait",)), ("wait=-inf", ("wait",)),
        ("wait=1e999", ("wait",)), ("wait=-1", ("wait",)), ("since=nan", ("since",)),
        ("since=inf", ("since",)), ("since=-1e308", ("since",)),
        ("release=" + "r" * 300, ("release",))]],
    *[Case(f"logs {q}", "GET", "{t}/logs?" + q, words=words) for q, words in [
        ("since=99999999d", ("36500d",)), ("since=99999999999999999999999d", ("36500d",)),
        ("since=" + "9" * 200 + "s", ("36500d",)), ("until=0001-01-01T00:00:00Z", ("1970",)),
        ("since=9999-12-31T23:59:59Z", ("2262",)), ("since=yesterday", ("cannot read time",)),
        ("since=1e400d", ("cannot read time",)), ("limit=0", ("limit",)),
        ("limit=99999999999999999999", ("limit",)), ("after=9223372036854775808", ("after",)),
        ("after=-1", ("after",)), ("wait=nan", ("wait",)), ("wait=inf", ("wait",)),
        ("before=12", ("before",)), ("source=both", ("source",)),
        ("severity=loud", ("severity",)), ("workload=" + "w" * 300, ("workload",))]],
    Case("build dockerfile outside", "POST", "{t}/builds?dockerfile=../../etc/passwd",
         b"tar", words=("dockerfile",)),
    Case("build dockerfile absolute", "POST", "{t}/builds?dockerfile=/etc/passwd", b"tar",
         words=("dockerfile",)),
    Case("build dockerfile NUL", "POST", "{t}/builds?dockerfile=a%00b", b"tar",
         words=("dockerfile",)),
]

# Secret values go through the same routes; these say what a refused one must never do: echo.
SECRET_VALUES: list[tuple[str, dict[str, object]]] = [
    ("NUL in a value", {"K": "s3cr3t\x00tail"}),
    ("value over the limit", {"K": "s3cr3t" + "x" * 70_000}),
    ("bad key beside a secret", {"K": "s3cr3t", "1BAD": "s3cr3t"}),
    ("number value", {"K": 5}),
    ("null value", {"K": None}),
    ("list value", {"K": ["s3cr3t"]}),
    ("object value", {"K": {"s3cr3t": 1}}),
    ("key with =", {"A=B": "s3cr3t"}),
    ("key with newline", {"A\nB": "s3cr3t"}),
    ("empty key", {"": "s3cr3t"}),
    ("too many keys", {f"K{i}": "s3cr3t" for i in range(600)}),
]
