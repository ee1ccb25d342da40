"""The rules of ``[workloads.NAME]``: image or build, command, count, cpu, memory, ports, health
check, ``min_ready`` and placement.

A workload is the largest table of a manifest and the one most often wrong, so its rules have a
module of their own; each field gets the limits (``MAX_COUNT``, ``MAX_MIN_READY``) and the
example a user needs to fix it.
"""

from __future__ import annotations

import json
import math
import shlex

from platd.spec.errors import InvalidInput
from platd.spec.limits import MAX_CPU, MIN_CPU
from platd.spec.manifest import BuildSpec, HealthCheck, HttpCheck, PlacementRule, Workload
from platd.spec.manifest_checker import NAME_RULE, Checker
from platd.spec.manifest_lines import key_path
from platd.spec.manifest_words import quote, show
from platd.spec.names import NAME_RE
from platd.spec.runtime_rules import (
    build_path_problem,
    command_arg_problem,
    http_path_problem,
    image_problem,
)
from platd.spec.sizes import parse_memory
from platd.spec.timeparse import parse_duration

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

MAX_COUNT = 100
_WORKLOAD_FIELDS = (
    "image", "build", "command", "count", "cpu", "memory", "ports", "health", "min_ready",
    "placement",
)
_PLACEMENT_FIELDS = ("region", "labels")
MAX_MIN_READY = 3600.0
_BUILD_FIELDS = ("context", "dockerfile")
_HEALTH_FIELDS = ("tcp", "http", "interval", "timeout", "retries", "grace")
_HTTP_FIELDS = ("port", "path")


def check_workloads(c: Checker, raw: Any) -> dict[str, Workload]:
    example = 'add one, e.g. [workloads.web] with image = "nginx:1.27"'
    if raw is None:
        c.add("workloads", f"a manifest needs at least one workload; {example}")
        return {}
    if not isinstance(raw, dict):
        c.add("workloads", f"expected a table of workloads, got {show(raw)}")
        return {}
    if not raw:
        c.add("workloads", f"a manifest needs at least one workload; {example}")
    workloads = {}
    for name, body in raw.items():
        path = key_path("workloads", name)
        if not NAME_RE.match(name):
            c.add(path, f"invalid workload name {quote(name)}: {NAME_RULE}")
        workloads[name] = _workload(c, path, name, body)
    return workloads


_DEFAULT = Workload(name="")


def _workload(c: Checker, path: str, name: str, raw: Any) -> Workload:
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


def _min_ready(c: Checker, path: str, value: Any) -> float | None:
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
        c.add(path, f"expected a duration, got {show(value)}; {example}")
        return None
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_MIN_READY:
        shown = json.dumps(value) if isinstance(value, str) else show(value)
        c.add(path, f"must be between 0s and {MAX_MIN_READY:g}s, got {shown}")
        return None
    return seconds


def _placement(c: Checker, path: str, raw: Any) -> PlacementRule | None:
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
                  f'expected a table like {{ disk = "ssd" }}, got {show(raw_labels)}')
        else:
            for key, value in raw_labels.items():
                if not isinstance(value, str) or not key or len(key) > 64 or len(value) > 64:
                    c.add(key_path(key_path(path, "labels"), key),
                          f"a label is NAME = \"VALUE\" (strings up to 64 characters), "
                          f"got {show(value)}")
                else:
                    labels[key] = value
    return PlacementRule(region=region, labels=labels) if region or labels else None


def _image_or_build(
    c: Checker, path: str, body: dict[str, Any], is_table: bool
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


def _non_empty(c: Checker, path: str, value: Any, default: str) -> str:
    text = c.string(path, value, default)
    if isinstance(value, str) and not text:
        c.add(path, f'must not be empty; leave it out to use "{default}"')
        return default
    return text


def _command(c: Checker, path: str, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        c.add(path, f"expected an array of strings, got {show(value)}; write [{_split(value)}]")
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


def _memory(c: Checker, path: str, value: Any) -> int:
    if value is None:
        return _DEFAULT.memory
    try:
        return parse_memory(value)
    except InvalidInput as exc:
        # Bound hints ("use at least 6M") only repeat the message; examples and guesses help.
        tips = [tip for tip in exc.hint if not tip.startswith("use at ")]
        c.add(path, "; ".join([exc.message, *tips]))
        return _DEFAULT.memory


def _health(c: Checker, path: str, raw: Any) -> HealthCheck | None:
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


def _http_check(c: Checker, path: str, raw: Any) -> HttpCheck:
    body = c.table(path, raw, _HTTP_FIELDS)
    port = c.port(
        key_path(path, "port"), c.required(path, body, "port") if isinstance(raw, dict) else None
    )
    probe = c.string(key_path(path, "path"), body.get("path"), "/")
    problem = http_path_problem(probe)
    if problem:
        c.add(key_path(path, "path"), problem)
    return HttpCheck(port=port, path=probe)
