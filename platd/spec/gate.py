"""The config gate: no release is created while the config its manifest requires is missing.

Deploying with "mystery config" (an env var the code reads but nobody set, a secret bundle that
does not exist yet) is the failure the onboarding flow must prevent. The gate compares what the
manifest requires with what the env has and, for every gap, names the exact command that closes
it, so the refusal is a to-do list rather than a dead end. The daemon runs it before it resolves
any image and again in the transaction that writes the release; the CLI runs it too before a
build, so that a refusal costs no build.

Mystery config goes the other way too: a key set on the env that the manifest does not declare
(under ``[env] required`` or ``[env] optional``) would reach every workload with nobody saying it
is read. Such a key is a gap as well, with its two fixes: declare it, or unset it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from platd.spec.errors import ConfigGateRefused
from platd.spec.manifest import Manifest

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Literal, Protocol
else:
    Protocol = object  # at run time a plain base class: the protocol is the type checker's


@dataclass(frozen=True)
class GateGap:
    """One required setting the env lacks, where the manifest asks for it, and how to add it."""

    kind: Literal["env", "secret", "undeclared"]
    name: str
    line: int  # line in the manifest that requires it; 0 if unknown
    fix: str  # the command that closes the gap
    source: str = "plat.toml"

    def describe(self) -> str:
        where = (
            f"required at {self.source} line {self.line}"
            if self.line
            else f"required by {self.source}"
        )
        if self.kind == "env":
            return f"env var {self.name} ({where}) is not set: {self.fix}"
        if self.kind == "undeclared":
            return (f"env var {self.name} is set on the env but {self.source} does not declare "
                    f"it: add it to [env] optional in {self.source} if the app reads it, or "
                    f"remove it: {self.fix}")
        return (
            f"secret bundle {self.name} ({where}) does not exist: {self.fix} "
            f"(or --from-file {self.name}.env instead of --set)"
        )

    def to_dict(self) -> dict[str, str | int]:
        return {"kind": self.kind, "name": self.name, "line": self.line, "fix": self.fix}


def check_gate(
    manifest: Manifest,
    env_keys: set[str],
    bundles: set[str],
    target: str,
    manifest_file: str = "plat.toml",
) -> list[GateGap]:
    """Every required env var and secret bundle the env at ``target`` lacks, in manifest order,
    then every key set there that the manifest does not declare.

    ``target`` is "org/project/app/env"; ``env_keys`` are the config keys set there and
    ``bundles`` the secret bundles that exist there.
    """
    gaps = [
        GateGap(
            kind="env",
            name=key,
            line=_line(manifest, "env.required", index),
            fix=f"plat config set {key}=... --target {target}",
            source=manifest_file,
        )
        for index, key in enumerate(manifest.required_env)
        if key not in env_keys
    ]
    gaps += [
        GateGap(
            kind="secret",
            name=bundle,
            line=_line(manifest, "secrets.bundles", index),
            fix=f"plat secrets create {bundle} --set KEY=... --target {target}",
            source=manifest_file,
        )
        for index, bundle in enumerate(manifest.secret_bundles)
        if bundle not in bundles
    ]
    declared = set(manifest.required_env) | set(manifest.optional_env)
    gaps += [
        GateGap(
            kind="undeclared",
            name=key,
            line=manifest.lines.get("env", 0),
            fix=f"plat config unset {key} --target {target}",
            source=manifest_file,
        )
        for key in sorted(env_keys - declared)
    ]
    return gaps


def optional_keys(manifest: Manifest, env_keys: set[str]) -> dict[str, list[str]]:
    """Which of the manifest's optional keys the env sets, and which it leaves unset (for the
    receipt: an optional key changes what the app does, so a deploy says which are on)."""
    return {
        "set": [key for key in manifest.optional_env if key in env_keys],
        "unset": [key for key in manifest.optional_env if key not in env_keys],
    }


class Gap(Protocol):
    """What the gate reports per gap: config gaps here, volume gaps (``spec.volumes``) too."""

    @property
    def kind(self) -> str: ...

    def describe(self) -> str: ...
    def to_dict(self) -> dict[str, str | int]: ...


def gate_error(gaps: Sequence[Gap], target: str) -> ConfigGateRefused:
    """The refusal for ``gaps`` (which must not be empty): one hint line per gap, then a summary."""
    if not gaps:
        raise ValueError("gate_error needs at least one gap; an empty list means the gate passes")
    if any(gap.kind not in ("env", "secret", "undeclared") for gap in gaps):
        count = f"{len(gaps)} problem(s) with the manifest's volumes and config"
    elif all(gap.kind == "undeclared" for gap in gaps):
        count = (f"{len(gaps)} env var(s) set on the env are not declared in the manifest "
                 "(no mystery config)")
    elif any(gap.kind == "undeclared" for gap in gaps):
        count = f"{len(gaps)} problem(s) with the config the manifest declares"
    elif len(gaps) == 1:
        count = "1 required setting is missing"
    else:
        count = f"{len(gaps)} required settings are missing"
    return ConfigGateRefused(
        f"refusing to create a release for {target}: {count}",
        hint=[gap.describe() for gap in gaps]
        + ["nothing was changed; run the commands above, then deploy again"],
        details={"target": target, "missing": [gap.to_dict() for gap in gaps]},
    )


def enforce_gate(
    manifest: Manifest,
    env_keys: set[str],
    bundles: set[str],
    target: str,
    manifest_file: str = "plat.toml",
) -> None:
    """Raise ConfigGateRefused if the env at ``target`` lacks anything the manifest requires."""
    gaps = check_gate(manifest, env_keys, bundles, target, manifest_file)
    if gaps:
        raise gate_error(gaps, target)


def _line(manifest: Manifest, field: str, index: int) -> int:
    # Prefer the list element's own line (a multi-line list), else the line of the list itself.
    return manifest.lines.get(f"{field}[{index}]") or manifest.lines.get(field, 0)
