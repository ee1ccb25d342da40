"""The rules that turn ``plat.toml`` text into a ``Manifest``, and the words for every mistake.

A manifest error is only useful if it says where: every issue carries its field path and the
line found by ``platd.spec.manifest_lines``. Validation collects every problem before raising,
so a user fixes a manifest in one pass instead of one error per deploy attempt.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import shlex
import tomllib
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Literal

from platd.spec.errors import InvalidInput, ManifestInvalid
from platd.spec.limits import MAX_CPU, MIN_CPU
from platd.spec.manifest import (
    BuildSpec,
    Endpoint,
    HealthCheck,
    HttpCheck,
    Manifest,
    ManifestIssue,
    PlacementRule,
    VolumeMount,
    Workload,
)
from platd.spec.manifest_lines import item_path, key_path, line_of, locate_lines, parent_path
from platd.spec.names import ENV_KEY_RE, NAME_RE
from platd.spec.runtime_rules import (
    build_path_problem,
    command_arg_problem,
    http_path_problem,
    image_problem,
    mount_problem,
)
from platd.spec.sizes import parse_memory
from platd.spec.timeparse import parse_duration

MAX_COUNT = 100
SECRETS_DIR = "/run/secrets"
MAX_NESTING = 64  # tables and arrays inside each other; a manifest needs four or five

_TOP_FIELDS = ("app", "env", "secrets", "workloads", "endpoints", "volumes")
_ENV_FIELDS = ("required", "optional")
_SECRETS_FIELDS = ("bundles",)
_WORKLOAD_FIELDS = (
    "image", "build", "command", "count", "cpu", "memory", "ports", "health", "min_ready",
    "placement",
)
_PLACEMENT_FIELDS = ("region", "labels")
MAX_MIN_READY = 3600.0
_BUILD_FIELDS = ("context", "dockerfile")
_HEALTH_FIELDS = ("tcp", "http", "interval", "timeout", "retries", "grace")
_HTTP_FIELDS = ("port", "path")
_ENDPOINT_FIELDS = (
    "name",
    "workload",
    "internal_port",
    "external_ports",
    "protocol",
    "ipv4",
    "ipv6",
    "proxy_protocol",
)
_VOLUME_FIELDS = ("name", "workload", "mount", "read_only")

_NAME_RULE = (
    "use 1-40 lowercase letters, digits and '-', starting with a letter, not ending with '-'"
)
_ENV_KEY_RULE = "use letters, digits and '_', not starting with a digit"


def parse(text: str, source: str = "plat.toml") -> Manifest:
    """Parse and validate manifest text; raises ManifestInvalid naming every problem and line."""
    too_deep = _too_deep(text)
    if too_deep:
        raise too_deep(source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(exc, text, source) from None
    except RecursionError:  # nesting _too_deep could not see (it does not parse strings)
        raise _nested(source, 0) from None
    return validate(data, source, locate_lines(text))


def _too_deep(text: str) -> Any:
    """A factory for the error of brackets nested deeper than MAX_NESTING, or None.

    tomllib parses nested arrays and inline tables by recursion, so thousands of ``[`` end in
    a RecursionError; counting brackets first turns that into an error with a line. Brackets
    inside strings and comments count too, which can only make a far-fetched manifest fail
    here instead of in the parser.
    """
    if text.count("[") + text.count("{") <= MAX_NESTING:
        return None
    depth = 0
    line = 1
    for char in text:
        if char in "[{":
            depth += 1
            if depth > MAX_NESTING:
                return lambda source: _nested(source, line)
        elif char in "]}":
            depth = max(0, depth - 1)
        elif char == "\n":
            line += 1
    return None


def _nested(source: str, line: int) -> ManifestInvalid:
    where = f" at line {line}" if line else ""
    return ManifestInvalid(
        f"{source} nests arrays or tables more than {MAX_NESTING} deep{where}",
        hint="a manifest needs a few levels: [workloads.web], command = [...], health = {...}",
        details={"file": source, "line": line,
                 "issues": [{"path": "", "line": line, "message": "nested too deeply"}]},
    )


def validate(
    data: dict[str, Any], source: str = "plat.toml", lines: dict[str, int] | None = None
) -> Manifest:
    """Validate a decoded manifest document (the TOML tables, or the same shape sent as JSON).

    Without ``lines`` every issue reports line 0, which ``ManifestIssue`` prints without a line.
    """
    checker = _Checker(dict(lines or {}))
    manifest = _manifest(checker, data)
    if checker.issues:
        raise _invalid(checker.issues, source)
    return manifest


# --- syntax errors -----------------------------------------------------------------------------

_POSITION_RE = re.compile(r"\s*\((?:at line (\d+), column (\d+)|at end of document)\)\s*$")
_SYNTAX_ADVICE = (
    ("twice", "each table and key may appear only once; merge the two into one"),
    ("overwrite", "each table and key may appear only once; merge the two into one"),
    ("Unterminated string", "close the string with the same quote it opened with"),
    ("Unclosed", "close the array or inline table with ']' or '}'"),
    ("Invalid value", 'strings need quotes: image = "nginx:1.27", not image = nginx:1.27'),
)

_TOML_BASICS = (
    'check the TOML syntax there: strings need quotes (app = "hello"), tables are written '
    "[workloads.web] and repeated tables [[endpoints]]"
)


def _syntax_error(exc: tomllib.TOMLDecodeError, text: str, source: str) -> ManifestInvalid:
    raw = str(exc)
    position = _POSITION_RE.search(raw)
    reason = raw[: position.start()] if position else raw
    source_lines = text.splitlines()
    if position and position.group(1):
        line, column = int(position.group(1)), int(position.group(2))
    else:  # "at end of document": the last line is the closest honest answer
        line, column = max(len(source_lines), 1), 0
    where = f"line {line}, column {column}" if column else f"line {line} (end of file)"
    hint = []
    if 0 < line <= len(source_lines):
        hint.append(f"line {line}: {source_lines[line - 1].strip()}")
    hint.append(next((tip for key, tip in _SYNTAX_ADVICE if key in reason), _TOML_BASICS))
    return ManifestInvalid(
        f"{source} is not valid TOML: {reason[:1].lower()}{reason[1:]} at {where}",
        hint=hint,
        details={
            "file": source,
            "line": line,
            "column": column,
            "issues": [{"path": "", "line": line, "message": reason}],
        },
    )


def _invalid(issues: list[ManifestIssue], source: str) -> ManifestInvalid:
    ordered = sorted(issues, key=lambda issue: (issue.line == 0, issue.line))
    noun = "problem" if len(ordered) == 1 else "problems"
    return ManifestInvalid(
        f"{source} has {len(ordered)} {noun}",
        hint=[str(issue) for issue in ordered],
        details={
            "file": source,
            "issues": [
                {"path": issue.path, "line": issue.line, "message": issue.message}
                for issue in ordered
            ],
        },
    )


# --- validation --------------------------------------------------------------------------------


@dataclass
class _Checker:
    """Reads typed values out of decoded TOML, recording an issue and a default for each bad one."""

    lines: dict[str, int]
    issues: list[ManifestIssue] = field(default_factory=list)

    def add(self, path: str, message: str) -> None:
        self.issues.append(ManifestIssue(path, line_of(self.lines, path), message))

    def table(self, path: str, value: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
        """The table at ``path`` (empty if it is not a table), after reporting unknown fields."""
        if not isinstance(value, dict):
            self.add(path, f"expected a table, got {_show(value)}")
            return {}
        for key in value:
            if key not in allowed:
                self.add(key_path(path, key), _unknown_field(key, path, allowed))
        return value

    def required(self, path: str, body: dict[str, Any], key: str) -> Any:
        if key not in body:
            self.add(key_path(path, key), f"missing required field '{key}' in {_section(path)}")
        return body.get(key)

    def string(self, path: str, value: Any, default: str) -> str:
        if value is None:
            return default
        if not isinstance(value, str):
            self.add(path, f"expected a string, got {_show(value)}")
            return default
        return value

    def integer(self, path: str, value: Any, default: int, low: int, high: int | None) -> int:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(path, f"expected an integer, got {_show(value)}{_unquote_tip(value)}")
            return default
        if value < low or (high is not None and value > high):
            limits = f"between {low} and {high}" if high is not None else f"at least {low}"
            self.add(path, f"must be {limits}, got {value}")
            return default
        return value

    def number(
        self, path: str, value: Any, default: float, unit: str, high: float | None = None,
        low: float | None = None,
    ) -> float:
        """A positive, finite number of ``unit`` (seconds, cores), at least ``low`` (if given)
        and at most ``high``."""
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.add(path, f"expected a number, got {_show(value)}{_unquote_tip(value)}")
            return default
        floor = f"at least {low:g}" if low is not None else "more than 0"
        limits = f"{floor} and at most {high:g}" if high is not None else floor
        limits += f" ({unit})"
        too_low = value <= 0 or (low is not None and value < low)
        if not math.isfinite(value) or too_low or (high is not None and value > high):
            self.add(path, f"must be {limits}, got {value}")
            return default
        return float(value)

    def boolean(self, path: str, value: Any, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            self.add(path, f"expected true or false, got {_show(value)}")
            return default
        return value

    def port(self, path: str, value: Any) -> int:
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(path, f"expected a port number, got {_show(value)}{_unquote_tip(value)}")
            return 0
        if not 1 <= value <= 65535:
            self.add(path, f"a port must be between 1 and 65535, got {value}")
            return 0
        return value

    def array(self, path: str, value: Any) -> list[tuple[str, Any]]:
        """The elements at ``path`` with their own paths; empty if it is not an array."""
        if value is None:
            return []
        if not isinstance(value, list):
            self.add(path, f"expected an array, got {_show(value)}")
            return []
        return [(item_path(path, index), element) for index, element in enumerate(value)]

    def ports(self, path: str, value: Any) -> list[tuple[str, int]]:
        """The distinct valid ports listed at ``path``, each with its own path."""
        found: dict[int, str] = {}
        for element_path, element in self.array(path, value):
            port = self.port(element_path, element)
            if port and port in found:
                self.add(element_path, f"port {port} is listed twice")
            elif port:
                found[port] = element_path
        return [(element_path, port) for port, element_path in found.items()]

    def name(self, path: str, value: Any, kind: str) -> str:
        text = self.string(path, value, "")
        if isinstance(value, str) and not NAME_RE.match(text):
            self.add(path, f"invalid {kind} name {_quote(text)}: {_NAME_RULE}")
        return text

    def names(self, path: str, value: Any, kind: str, rule: re.Pattern[str]) -> tuple[str, ...]:
        """A list of distinct names (``rule`` decides which are valid), as for env.required."""
        found: list[str] = []
        for element_path, element in self.array(path, value):
            text = self.string(element_path, element, "")
            if not isinstance(element, str):
                continue
            if not rule.match(text):
                why = _ENV_KEY_RULE if rule is ENV_KEY_RE else _NAME_RULE
                self.add(element_path, f"invalid {kind} name {_quote(text)}: {why}")
            elif text in found:
                self.add(element_path, f"{kind} {_quote(text)} is listed twice")
            else:
                found.append(text)
        return tuple(found)

    def aot(self, path: str, value: Any) -> list[tuple[str, Any]]:
        """The entries of an array of tables such as [[endpoints]]."""
        if isinstance(value, dict):
            self.add(
                path,
                f"expected repeated tables [[{path}]], got a single table; "
                f"write [[{path}]] with two brackets",
            )
            return []
        return self.array(path, value)


def _manifest(c: _Checker, data: dict[str, Any]) -> Manifest:
    body = c.table("", data, _TOP_FIELDS)
    app = c.name("app", c.required("", body, "app"), "app")
    env = c.table("env", body.get("env", {}), _ENV_FIELDS)
    required_env = c.names("env.required", env.get("required"), "environment variable", ENV_KEY_RE)
    optional_env = c.names("env.optional", env.get("optional"), "environment variable", ENV_KEY_RE)
    for index, key in enumerate(optional_env):
        if key in required_env:
            c.add(f"env.optional[{index}]", f"{key} is both required and optional; list it "
                  "under one of them")
    secrets = c.table("secrets", body.get("secrets", {}), _SECRETS_FIELDS)
    bundles = c.names("secrets.bundles", secrets.get("bundles"), "secret bundle", NAME_RE)
    workloads = _workloads(c, body.get("workloads"))
    declared = _declared_workloads(body.get("workloads"))
    return Manifest(
        app=app,
        workloads=workloads,
        required_env=required_env,
        optional_env=optional_env,
        secret_bundles=bundles,
        endpoints=_endpoints(c, body.get("endpoints"), declared),
        volumes=_volumes(c, body.get("volumes"), declared),
        lines=dict(c.lines),
    )


def _declared_workloads(raw: Any) -> tuple[str, ...]:
    return tuple(raw) if isinstance(raw, dict) else ()


# workloads


def _workloads(c: _Checker, raw: Any) -> dict[str, Workload]:
    example = 'add one, e.g. [workloads.web] with image = "nginx:1.27"'
    if raw is None:
        c.add("workloads", f"a manifest needs at least one workload; {example}")
        return {}
    if not isinstance(raw, dict):
        c.add("workloads", f"expected a table of workloads, got {_show(raw)}")
        return {}
    if not raw:
        c.add("workloads", f"a manifest needs at least one workload; {example}")
    workloads = {}
    for name, body in raw.items():
        path = key_path("workloads", name)
        if not NAME_RE.match(name):
            c.add(path, f"invalid workload name {_quote(name)}: {_NAME_RULE}")
        workloads[name] = _workload(c, path, name, body)
    return workloads


_DEFAULT = Workload(name="")


def _workload(c: _Checker, path: str, name: str, raw: Any) -> Workload:
    body = c.table(path, raw, _WORKLOAD_FIELDS)
    image, build = _image_or_build(c, path, body, isinstance(raw, dict))
    return Workload(
        name=name,
        image=image,
        build=build,
        command=_command(c, key_path(path, "command"), body.get("command")),
        count=c.integer(key_path(path, "count"), body.get("count"), _DEFAULT.count, 0, MAX_COUNT),
        cpu=c.number(key_path(path, "cpu"), body.get("cpu"), _DEFAULT.cpu, "cores", MAX_CPU,
                     low=MIN_CPU),
        memory=_memory(c, key_path(path, "memory"), body.get("memory")),
        health=_health(c, key_path(path, "health"), body.get("health")),
        ports=tuple(port for _, port in c.ports(key_path(path, "ports"), body.get("ports"))),
        min_ready=_min_ready(c, key_path(path, "min_ready"), body.get("min_ready")),
        placement=_placement(c, key_path(path, "placement"), body.get("placement")),
    )


def _min_ready(c: _Checker, path: str, value: Any) -> float | None:
    """A duration ("10s", "500ms", "1m") or a number of seconds; 0 means no wait."""
    if value is None:
        return None
    example = 'write a duration like "10s", "500ms" or "1m"'
    if isinstance(value, str):
        try:
            seconds = parse_duration(value)
        except InvalidInput:
            c.add(path, f"cannot read {json.dumps(value)} as a duration; {example}")
            return None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        c.add(path, f"expected a duration, got {_show(value)}; {example}")
        return None
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_MIN_READY:
        shown = json.dumps(value) if isinstance(value, str) else _show(value)
        c.add(path, f"must be between 0s and {MAX_MIN_READY:g}s, got {shown}")
        return None
    return seconds


def _placement(c: _Checker, path: str, raw: Any) -> PlacementRule | None:
    """``placement = { region = "eu-west", labels = { disk = "ssd" } }``."""
    if raw is None:
        return None
    body = c.table(path, raw, _PLACEMENT_FIELDS)
    region = c.string(key_path(path, "region"), body.get("region"), "") or None
    labels: dict[str, str] = {}
    raw_labels = body.get("labels")
    if raw_labels is not None:
        if not isinstance(raw_labels, dict):
            c.add(key_path(path, "labels"),
                  f'expected a table like {{ disk = "ssd" }}, got {_show(raw_labels)}')
        else:
            for key, value in raw_labels.items():
                if not isinstance(value, str) or not key or len(key) > 64 or len(value) > 64:
                    c.add(key_path(key_path(path, "labels"), key),
                          f"a label is NAME = \"VALUE\" (strings up to 64 characters), "
                          f"got {_show(value)}")
                else:
                    labels[key] = value
    return PlacementRule(region=region, labels=labels) if region or labels else None


def _image_or_build(
    c: _Checker, path: str, body: dict[str, Any], is_table: bool
) -> tuple[str | None, BuildSpec | None]:
    if "image" in body and "build" in body:
        c.add(path, f"set either image or [{path}.build], not both")
    elif "image" not in body and "build" not in body and is_table:
        c.add(
            path,
            f'needs an image (image = "registry/name:tag") or a build ([{path}.build] '
            'context = ".")',
        )
    image = None
    if "image" in body:
        image = c.string(key_path(path, "image"), body["image"], "")
        problem = image_problem(image) if isinstance(body["image"], str) else None
        if problem:
            c.add(key_path(path, "image"), problem)
    build = None
    if "build" in body:
        build_path = key_path(path, "build")
        spec = c.table(build_path, body["build"], _BUILD_FIELDS)
        context = _non_empty(c, key_path(build_path, "context"), spec.get("context"), ".")
        dockerfile = _non_empty(
            c, key_path(build_path, "dockerfile"), spec.get("dockerfile"), "Dockerfile"
        )
        for key, value, base in (("context", context, "the manifest's directory"),
                                 ("dockerfile", dockerfile, "the build context")):
            problem = build_path_problem(value, key, base)
            if problem:
                c.add(key_path(build_path, key), problem)
        build = BuildSpec(context=context, dockerfile=dockerfile)
    return image, build


def _non_empty(c: _Checker, path: str, value: Any, default: str) -> str:
    text = c.string(path, value, default)
    if isinstance(value, str) and not text:
        c.add(path, f'must not be empty; leave it out to use "{default}"')
        return default
    return text


def _command(c: _Checker, path: str, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        c.add(path, f"expected an array of strings, got {_show(value)}; write [{_split(value)}]")
        return None
    elements = c.array(path, value)
    if isinstance(value, list) and not elements:
        c.add(path, "must not be empty; leave it out to run the image's default command")
    args = []
    for element_path, element in elements:
        arg = c.string(element_path, element, "")
        problem = command_arg_problem(arg)
        if problem:
            c.add(element_path, problem)
        args.append(arg)
    return tuple(args)


def _split(command: str) -> str:
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    return ", ".join(json.dumps(word) for word in words)


def _memory(c: _Checker, path: str, value: Any) -> int:
    if value is None:
        return _DEFAULT.memory
    try:
        return parse_memory(value)
    except InvalidInput as exc:
        # Bound hints ("use at least 6M") only repeat the message; examples and guesses help.
        tips = [tip for tip in exc.hint if not tip.startswith("use at ")]
        c.add(path, "; ".join([exc.message, *tips]))
        return _DEFAULT.memory


def _health(c: _Checker, path: str, raw: Any) -> HealthCheck | None:
    if raw is None:
        return None
    body = c.table(path, raw, _HEALTH_FIELDS)
    has_tcp, has_http = "tcp" in body, "http" in body
    if has_tcp and has_http:
        c.add(path, "set either tcp or http, not both")
    elif not has_tcp and not has_http:
        c.add(path, 'needs a probe: tcp = PORT or http = { port = PORT, path = "/healthz" }')
    defaults = HealthCheck()
    return HealthCheck(
        tcp=c.port(key_path(path, "tcp"), body["tcp"]) if has_tcp else None,
        http=_http_check(c, key_path(path, "http"), body["http"]) if has_http else None,
        interval=c.number(
            key_path(path, "interval"), body.get("interval"), defaults.interval, "seconds"
        ),
        timeout=c.number(
            key_path(path, "timeout"), body.get("timeout"), defaults.timeout, "seconds"
        ),
        retries=c.integer(
            key_path(path, "retries"), body.get("retries"), defaults.retries, 1, None
        ),
        grace=c.number(key_path(path, "grace"), body.get("grace"), defaults.grace, "seconds"),
    )


def _http_check(c: _Checker, path: str, raw: Any) -> HttpCheck:
    body = c.table(path, raw, _HTTP_FIELDS)
    port = c.port(
        key_path(path, "port"), c.required(path, body, "port") if isinstance(raw, dict) else None
    )
    probe = c.string(key_path(path, "path"), body.get("path"), "/")
    problem = http_path_problem(probe)
    if problem:
        c.add(key_path(path, "path"), problem)
    return HttpCheck(port=port, path=probe)


# endpoints and volumes


def _endpoints(c: _Checker, raw: Any, workloads: Collection[str]) -> tuple[Endpoint, ...]:
    endpoints = []
    names: dict[str, str] = {}
    owners: dict[int, str] = {}
    for path, entry in c.aot("endpoints", raw):
        body = c.table(path, entry, _ENDPOINT_FIELDS)
        if not body and not isinstance(entry, dict):
            continue
        name = c.name(key_path(path, "name"), c.required(path, body, "name"), "endpoint")
        _unique(c, key_path(path, "name"), name, names, "endpoint")
        external = _external_ports(c, path, body, name, owners)
        endpoints.append(
            Endpoint(
                name=name,
                workload=_workload_ref(c, path, body, workloads),
                internal_port=c.port(
                    key_path(path, "internal_port"), c.required(path, body, "internal_port")
                ),
                external_ports=external,
                protocol=_protocol(c, key_path(path, "protocol"), body.get("protocol")),
                ipv4=c.boolean(key_path(path, "ipv4"), body.get("ipv4"), False),
                ipv6=_ipv6(c, path, body),
                proxy_protocol=_proxy(c, key_path(path, "proxy_protocol"), body),
            )
        )
    return tuple(endpoints)


def _external_ports(
    c: _Checker, path: str, body: dict[str, Any], name: str, owners: dict[int, str]
) -> tuple[int, ...]:
    ports_path = key_path(path, "external_ports")
    raw = c.required(path, body, "external_ports")
    if isinstance(raw, list) and not raw:
        c.add(ports_path, "needs at least one port, e.g. external_ports = [80]")
    ports = c.ports(ports_path, raw)
    for port_path, port in ports:
        if port in owners:
            c.add(port_path, f"external port {port} is already used by endpoint {owners[port]}")
        else:
            owners[port] = f"'{name}'" if name else path
    return tuple(port for _, port in ports)


def _protocol(c: _Checker, path: str, value: Any) -> Literal["tcp"]:
    text = c.string(path, value, "tcp")
    if text != "tcp":
        c.add(path, f'only "tcp" is supported, got {_quote(text)}')
    return "tcp"


def _ipv6(c: _Checker, path: str, body: dict[str, Any]) -> bool:
    ipv6 = c.boolean(key_path(path, "ipv6"), body.get("ipv6"), True)
    if not ipv6 and body.get("ipv4") is not True:
        c.add(
            key_path(path, "ipv6"),
            "ipv6 = false needs ipv4 = true: an endpoint must listen on at least one of them",
        )
    return ipv6


def _proxy(c: _Checker, path: str, body: dict[str, Any]) -> Literal["v2"] | None:
    if "proxy_protocol" not in body:
        return None
    value = body["proxy_protocol"]
    if value != "v2":
        c.add(path, f'must be "v2" or left out, got {_show(value)}')
        return None
    return "v2"


def _volumes(c: _Checker, raw: Any, workloads: Collection[str]) -> tuple[VolumeMount, ...]:
    volumes = []
    names: dict[str, str] = {}
    mounts: dict[tuple[str, str], str] = {}
    for path, entry in c.aot("volumes", raw):
        body = c.table(path, entry, _VOLUME_FIELDS)
        if not body and not isinstance(entry, dict):
            continue
        name = c.name(key_path(path, "name"), c.required(path, body, "name"), "volume")
        _unique(c, key_path(path, "name"), name, names, "volume")
        workload = _workload_ref(c, path, body, workloads)
        mount = _mount(c, key_path(path, "mount"), c.required(path, body, "mount"))
        if mount and (workload, mount) in mounts:
            c.add(
                key_path(path, "mount"),
                f"{mount} on workload '{workload}' is already the mount of volume "
                f"{mounts[workload, mount]}",
            )
        elif mount:
            mounts[workload, mount] = f"'{name}'"
        read_only = c.boolean(key_path(path, "read_only"), body.get("read_only"), False)
        volumes.append(VolumeMount(name, workload, mount, read_only))
    return tuple(volumes)


def _mount(c: _Checker, path: str, value: Any) -> str:
    mount = c.string(path, value, "")
    if not isinstance(value, str):
        return ""
    problem = mount_problem(mount)
    if problem:
        c.add(path, f"invalid mount {_quote(mount)}: {problem}")
        return ""
    return mount


def _workload_ref(c: _Checker, path: str, body: dict[str, Any], workloads: Collection[str]) -> str:
    ref_path = key_path(path, "workload")
    ref = c.string(ref_path, c.required(path, body, "workload"), "")
    if isinstance(body.get("workload"), str) and ref not in workloads:
        c.add(ref_path, f"no workload named {_quote(ref)}{_did_you_mean(ref, workloads)}")
    return ref


def _unique(c: _Checker, path: str, name: str, seen: dict[str, str], kind: str) -> None:
    if not name:
        return
    if name in seen:
        c.add(path, f"{kind} name '{name}' is already used by {seen[name]}")
    else:
        seen[name] = parent_path(path)


# words


def _unknown_field(key: str, table: str, allowed: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    where = f"in {_section(table)}" if table else "at the top level"
    if close:
        return f"unknown field '{key}' {where}; did you mean '{close[0]}'?"
    return f"unknown field '{key}' {where}; expected one of: {', '.join(sorted(allowed))}"


def _did_you_mean(value: str, choices: Collection[str]) -> str:
    close = difflib.get_close_matches(value, list(choices), n=1)
    if close:
        return f"; did you mean '{close[0]}'?"
    if choices:
        return f"; this manifest defines: {', '.join(sorted(choices))}"
    return ""


def _section(path: str) -> str:
    if not path:
        return "the top level"
    if path.endswith("]"):
        return f"[[{parent_path(path)}]]"
    return f"[{path}]"


def _show(value: Any) -> str:
    """How a value a user wrote reads back in an error: typed, in TOML spelling."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return (
            f"the string {json.dumps(value, ensure_ascii=False)}" if value else 'an empty string ""'
        )
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value:g}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"{type(value).__name__} {value}"


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _unquote_tip(value: Any) -> str:
    if isinstance(value, str) and _looks_numeric(value):
        return "; remove the quotes"
    return ""


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
