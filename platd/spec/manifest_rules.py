"""The rules that turn ``plat.toml`` text into a ``Manifest``, and the words for every mistake.

A manifest error is only useful if it says where: every issue carries its field path and the
line found by ``platd.spec.manifest_lines``. Validation collects every problem before raising,
so a user fixes a manifest in one pass instead of one error per deploy attempt.

This module is the entry (``parse``, ``validate``) and the top level of the document; each part
of the rules has its own module: ``manifest_syntax`` (TOML that does not parse, or nests too
deep), ``manifest_checker`` (typed reads that record an issue and go on),
``manifest_workloads`` (``[workloads.*]``), ``manifest_entries`` (``[[endpoints]]`` and
``[[volumes]]``) and ``manifest_words`` (how a user's value reads back in an error).
"""

from __future__ import annotations

import tomllib

from platd.spec.errors import ManifestInvalid
from platd.spec.manifest import Manifest, ManifestIssue
from platd.spec.manifest_checker import Checker
from platd.spec.manifest_entries import check_endpoints, check_volumes
from platd.spec.manifest_lines import locate_lines
from platd.spec.manifest_syntax import nested_too_deep, nesting_error, syntax_error
from platd.spec.manifest_workloads import check_workloads
from platd.spec.names import ENV_KEY_RE, NAME_RE

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

_TOP_FIELDS = ("app", "env", "secrets", "workloads", "endpoints", "volumes")
_ENV_FIELDS = ("required", "optional")
_SECRETS_FIELDS = ("bundles",)


def parse(text: str, source: str = "plat.toml") -> Manifest:
    """Parse and validate manifest text; raises ManifestInvalid naming every problem and line."""
    too_deep = nesting_error(text)
    if too_deep:
        raise too_deep(source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise syntax_error(exc, text, source) from None
    except RecursionError:  # nesting that nesting_error could not see (it does not parse strings)
        raise nested_too_deep(source, 0) from None
    return validate(data, source, locate_lines(text))


def validate(
    data: dict[str, Any], source: str = "plat.toml", lines: dict[str, int] | None = None
) -> Manifest:
    """Validate a decoded manifest document (the TOML tables, or the same shape sent as JSON).

    Without ``lines`` every issue reports line 0, which ``ManifestIssue`` prints without a line.
    """
    checker = Checker(dict(lines or {}))
    manifest = _manifest(checker, data)
    if checker.issues:
        raise _invalid(checker.issues, source)
    return manifest


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


def _manifest(c: Checker, data: dict[str, Any]) -> Manifest:
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
    workloads = check_workloads(c, body.get("workloads"))
    declared = _declared_workloads(body.get("workloads"))
    return Manifest(
        app=app,
        workloads=workloads,
        required_env=required_env,
        optional_env=optional_env,
        secret_bundles=bundles,
        endpoints=check_endpoints(c, body.get("endpoints"), declared),
        volumes=check_volumes(c, body.get("volumes"), declared),
        lines=dict(c.lines),
    )


def _declared_workloads(raw: Any) -> tuple[str, ...]:
    return tuple(raw) if isinstance(raw, dict) else ()
