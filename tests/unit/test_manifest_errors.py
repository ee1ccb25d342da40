"""plat.toml mistakes, one at a time and together: each has its path, its line and words that
say what to do; syntax errors name file, line and column."""

from __future__ import annotations

from textwrap import dedent

import pytest
from manifest_support import MINIMAL, Mistake, check_mistake, issues_of, only_issue

from platd.spec.errors import ManifestInvalid
from platd.spec.manifest import (
    parse_manifest,
)

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


CASES: list[Mistake] = [
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
        "health, image, memory, min_ready, placement, ports",
    ),
    (
        "min_ready that is not a duration",
        MINIMAL + 'min_ready = "ten seconds"\n',
        "workloads.web.min_ready",
        5,
        "cannot read \"ten seconds\" as a duration; write a duration like \"10s\", \"500ms\" "
        "or \"1m\"",
    ),
    (
        "min_ready out of range",
        MINIMAL + 'min_ready = "2h"\n',
        "workloads.web.min_ready",
        5,
        "must be between 0s and 3600s, got \"2h\"",
    ),
    (
        "min_ready of the wrong type",
        MINIMAL + "min_ready = true\n",
        "workloads.web.min_ready",
        5,
        "expected a duration, got true",
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
        "must be at least 0.01 and at most 64 (cores), got 0",
    ),
    # Would round to NanoCpus=0, which Docker reads as "no limit at all".
    ("cpu vanishingly small", MINIMAL + "cpu = 1e-300\n", "workloads.web.cpu", 5,
     "must be at least 0.01 and at most 64 (cores), got 1e-300"),
    ("cpu below docker's minimum", MINIMAL + "cpu = 0.005\n", "workloads.web.cpu", 5,
     "got 0.005"),
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

@pytest.mark.parametrize(
    ("text", "path", "line", "words"), [case[1:] for case in CASES], ids=[c[0] for c in CASES]
)
def test_each_mistake_has_its_path_line_and_words(
    text: str, path: str, line: int, words: str
) -> None:
    check_mistake(text, path, line, words)


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
