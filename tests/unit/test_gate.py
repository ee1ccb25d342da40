"""The config gate: each missing kind, the words of the refusal, and fixes that really fix."""

from __future__ import annotations

import shlex

import pytest

from platd.spec.errors import ConfigGateRefused
from platd.spec.gate import GateGap, check_gate, enforce_gate, gate_error
from platd.spec.manifest import Manifest, Workload, parse_manifest

TARGET = "acme/shop/hello/prod"

MANIFEST = """\
app = "hello"

[env]
required = [
  "GREETING",
  "DATABASE_URL",
]

[secrets]
bundles = ["db", "stripe"]

[workloads.web]
image = "nginx:1.27"
"""


@pytest.fixture
def manifest() -> Manifest:
    return parse_manifest(MANIFEST)


def test_nothing_missing_passes(manifest: Manifest) -> None:
    gaps = check_gate(manifest, {"GREETING", "DATABASE_URL"}, {"db", "stripe"}, TARGET)
    assert gaps == []
    enforce_gate(manifest, {"GREETING", "DATABASE_URL"}, {"db", "stripe"}, TARGET)


def test_a_key_the_manifest_does_not_declare_is_refused_with_both_fixes(
    manifest: Manifest,
) -> None:
    keys = {"GREETING", "DATABASE_URL", "EXTRA"}
    gaps = check_gate(manifest, keys, {"db", "stripe"}, TARGET)
    assert [(g.kind, g.name, g.fix) for g in gaps] == [
        ("undeclared", "EXTRA", f"plat config unset EXTRA --target {TARGET}")
    ]
    with pytest.raises(ConfigGateRefused) as caught:
        enforce_gate(manifest, keys, {"db", "stripe"}, TARGET)
    assert "not declared in the manifest" in caught.value.message
    hint = " ".join(caught.value.hint)
    assert "[env] optional in plat.toml" in hint
    assert f"plat config unset EXTRA --target {TARGET}" in hint


def test_a_key_declared_optional_passes_and_is_reported() -> None:
    from platd.spec.gate import optional_keys

    declared = parse_manifest(MANIFEST.replace('[env]\n', '[env]\noptional = ["DEBUG", "TZ"]\n'))
    keys = {"GREETING", "DATABASE_URL", "DEBUG"}
    assert check_gate(declared, keys, {"db", "stripe"}, TARGET) == []
    assert optional_keys(declared, keys) == {"set": ["DEBUG"], "unset": ["TZ"]}


def test_a_key_both_required_and_optional_is_a_manifest_error() -> None:
    from platd.spec.errors import ManifestInvalid

    with pytest.raises(ManifestInvalid) as caught:
        parse_manifest(MANIFEST.replace('[env]\n', '[env]\noptional = ["GREETING"]\n'))
    assert "GREETING is both required and optional" in " ".join(caught.value.hint)


def test_a_missing_env_var_is_a_gap_with_its_line_and_fix(manifest: Manifest) -> None:
    gaps = check_gate(manifest, {"GREETING"}, {"db", "stripe"}, TARGET)
    assert gaps == [
        GateGap(
            kind="env",
            name="DATABASE_URL",
            line=6,
            fix=f"plat config set DATABASE_URL=... --target {TARGET}",
        )
    ]


def test_a_missing_secret_bundle_is_a_gap_with_its_line_and_fix(manifest: Manifest) -> None:
    gaps = check_gate(manifest, {"GREETING", "DATABASE_URL"}, {"db"}, TARGET)
    assert gaps == [
        GateGap(
            kind="secret",
            name="stripe",
            line=10,
            fix=f"plat secrets create stripe --set KEY=... --target {TARGET}",
        )
    ]


def test_gaps_come_env_first_in_manifest_order(manifest: Manifest) -> None:
    gaps = check_gate(manifest, set(), set(), TARGET)
    assert [(g.kind, g.name, g.line) for g in gaps] == [
        ("env", "GREETING", 5),
        ("env", "DATABASE_URL", 6),
        ("secret", "db", 10),
        ("secret", "stripe", 10),
    ]


def test_the_refusal_lists_every_gap_and_says_nothing_changed(manifest: Manifest) -> None:
    gaps = check_gate(manifest, {"GREETING"}, {"db"}, TARGET, manifest_file="app/plat.toml")
    error = gate_error(gaps, TARGET)
    assert isinstance(error, ConfigGateRefused)
    assert error.exit_code == 6
    assert error.message == (
        "refusing to create a release for acme/shop/hello/prod: 2 required settings are missing"
    )
    assert error.hint == [
        "env var DATABASE_URL (required at app/plat.toml line 6) is not set: "
        "plat config set DATABASE_URL=... --target acme/shop/hello/prod",
        "secret bundle stripe (required at app/plat.toml line 10) does not exist: "
        "plat secrets create stripe --set KEY=... --target acme/shop/hello/prod "
        "(or --from-file stripe.env instead of --set)",
        "nothing was changed; run the commands above, then deploy again",
    ]
    assert error.details == {
        "target": TARGET,
        "missing": [
            {
                "kind": "env",
                "name": "DATABASE_URL",
                "line": 6,
                "fix": f"plat config set DATABASE_URL=... --target {TARGET}",
            },
            {
                "kind": "secret",
                "name": "stripe",
                "line": 10,
                "fix": f"plat secrets create stripe --set KEY=... --target {TARGET}",
            },
        ],
    }


def test_one_gap_reads_in_the_singular(manifest: Manifest) -> None:
    gaps = check_gate(manifest, {"GREETING", "DATABASE_URL"}, {"db"}, TARGET)
    assert gate_error(gaps, TARGET).message.endswith(": 1 required setting is missing")


def test_enforce_gate_raises_the_refusal(manifest: Manifest) -> None:
    with pytest.raises(ConfigGateRefused, match="2 required settings are missing"):
        enforce_gate(manifest, {"GREETING"}, {"stripe"}, TARGET)


def test_gate_error_needs_a_gap() -> None:
    with pytest.raises(ValueError, match="empty list means the gate passes"):
        gate_error([], TARGET)


def apply(fix: str, env_keys: set[str], bundles: set[str]) -> None:
    """Play a fix command against the env's state, as the CLI would."""
    words = shlex.split(fix)
    assert words[words.index("--target") + 1] == TARGET
    if words[:3] == ["plat", "config", "set"]:
        env_keys.add(words[3].split("=", 1)[0])
    elif words[:3] == ["plat", "secrets", "create"]:
        bundles.add(words[3])
    elif words[:3] == ["plat", "config", "unset"]:
        env_keys.discard(words[3])
    else:
        pytest.fail(f"not a command the gate should suggest: {fix}")


def test_running_every_fix_makes_the_gate_pass(manifest: Manifest) -> None:
    env_keys: set[str] = {"UNRELATED"}
    bundles: set[str] = set()
    gaps = check_gate(manifest, env_keys, bundles, TARGET)
    assert len(gaps) == 5  # two env vars, two bundles, and UNRELATED that nobody declared
    for gap in gaps:
        apply(gap.fix, env_keys, bundles)
    assert check_gate(manifest, env_keys, bundles, TARGET) == []


def test_a_manifest_without_lines_still_names_the_file() -> None:
    manifest = Manifest(
        app="hello", workloads={"web": Workload(name="web", image="x")}, required_env=("TOKEN",)
    )
    (gap,) = check_gate(manifest, set(), set(), TARGET)
    assert gap.line == 0
    assert gap.describe().startswith(
        "env var TOKEN (required by plat.toml) is not set: plat config set"
    )
