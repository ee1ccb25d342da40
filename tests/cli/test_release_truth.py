"""What plat says about a release is true: no mystery config, destructive commands confirm,
a deploy with nothing changed says so (issue 20). The real ``plat`` against a real platd."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cli_support import MANIFEST, PLAT, assert_error, satisfy_gate

# --- no mystery config --------------------------------------------------------------------


def _with_optional(tmp_path: Path, *keys: str) -> Path:
    text = MANIFEST.read_text().replace(
        "[env]\n", "[env]\noptional = [" + ", ".join(f'"{k}"' for k in keys) + "]\n", 1)
    path = tmp_path / "plat.toml"
    path.write_text(text)
    return path


def test_a_deploy_refuses_config_the_manifest_does_not_declare(cli: Any, platd: Any,
                                                               target: str) -> None:
    satisfy_gate(platd, target)
    status, _ = platd.api("PATCH", f"/v1/envs/{target}/config", {"set": {"LEFTOVER": "x"}})
    assert status == 200
    # The daemon decides, whatever the client checked first.
    status, body = platd.api("POST", f"/v1/envs/{target}/deploy",
                             {"manifest": MANIFEST.read_text(), "images": {}})
    assert status in (400, 409, 422), (status, body)
    assert "LEFTOVER" in json.dumps(body)
    r = cli("deploy", "-f", str(MANIFEST), "--target", target)
    hints = assert_error(r, 6, "not declared in the manifest", "LEFTOVER")
    assert any("[env] optional" in h and f"plat config unset LEFTOVER --target {target}" in h
               for h in hints), hints
    assert json.loads(cli("releases", "--json", "--target", target).out)["releases"] == []


def test_declared_optional_keys_deploy_and_the_receipt_says_which_are_set(
        cli: Any, platd: Any, target: str, tmp_path: Path) -> None:
    satisfy_gate(platd, target)
    assert cli("config", "set", "LOG_LEVEL=debug", "--target", target).code == 0
    manifest = _with_optional(tmp_path, "LOG_LEVEL", "SENTRY_DSN")
    r = cli("deploy", "-f", str(manifest), "--target", target, "--detach", "--json")
    assert r.code == 0, r.err
    receipt = json.loads(r.out)
    assert receipt["optional_env"] == {"set": ["LOG_LEVEL"], "unset": ["SENTRY_DSN"]}
    assert "debug" not in r.out
    from tui.render.receipts import receipt as receipt_lines

    assert "  optional env set: LOG_LEVEL; unset: SENTRY_DSN" in receipt_lines(receipt)


def test_the_error_for_undeclared_config_is_not_a_traceback(cli: Any, platd: Any,
                                                             target: str) -> None:
    satisfy_gate(platd, target)
    platd.api("PATCH", f"/v1/envs/{target}/config", {"set": {"A": "1", "B": "2"}})
    r = cli("deploy", "-f", str(MANIFEST), "--target", target)
    assert_error(r, 6, "2 env var(s) set on the env are not declared")
    assert "Traceback" not in r.err


# --- destructive commands confirm ---------------------------------------------------------


def _envs(platd: Any, target: str) -> list[str]:
    parent = target.rsplit("/", 1)[0]
    return [e["path"] for e in platd.api("GET", f"/v1/tree/envs?parent={parent}")[1]]


def _term(platd: Any, cli: Any, *args: str) -> Any:
    from tests.exec.exec_support import Term

    return Term([PLAT, *args], platd.env(PLAT_CONFIG_DIR=str(cli.config_dir)))


def test_deleting_an_env_on_a_terminal_asks_for_its_name(cli: Any, platd: Any,
                                                          target: str) -> None:
    term = _term(platd, cli, "envs", "delete", target)
    try:
        term.expect(f"Deleting env {target}: its instances are stopped and removed")
        term.expect(rf"type the env's name \({target}\) to delete it: ")
        term.send("prod\r")  # the short name is not enough
        assert term.wait() == 2
    finally:
        term.close()
    assert f"env {target} not deleted: 'prod' is not its name" in term.text
    assert f"plat envs delete {target} --yes" in term.text
    assert target in _envs(platd, target)

    term = _term(platd, cli, "envs", "delete", target)
    try:
        term.expect("to delete it: ")
        term.send(f"{target}\r")
        assert term.wait() == 0
    finally:
        term.close()
    assert f"deleted env {target}" in term.text
    assert target not in _envs(platd, target)


def test_a_script_must_say_yes_and_nothing_is_deleted_without_it(cli: Any, platd: Any,
                                                                  target: str) -> None:
    org = target.split("/")[0]
    for args, kind in ((["envs", "delete", target], "env"),
                       (["apps", "delete", target.rsplit("/", 1)[0]], "app"),
                       (["projects", "delete", f"{org}/shop"], "project"),
                       (["orgs", "delete", org], "org"),
                       (["volumes", "delete", "data", "--target", target], "volume"),
                       (["endpoints", "delete", "public", "--target", target], "endpoint"),
                       (["tokens", "revoke", "some-id"], "token")):
        r = cli(*args)
        verb = "revoking" if kind == "token" else "deleting"
        article = "an" if kind in ("env", "app", "org", "endpoint") else "a"
        hints = assert_error(r, 2, f"{verb} {article} {kind} needs a confirmation; nothing "
                             "was changed")
        assert hints[-1] == "or, in a script: plat " + " ".join(args) + " --yes", hints
    assert target in _envs(platd, target)
    r = cli("envs", "delete", target, "--yes")
    assert r.code == 0, r.err
    assert target not in _envs(platd, target)


def test_revoking_a_token_on_a_terminal_asks_for_its_name(cli: Any, platd: Any,
                                                          target: str) -> None:
    org = target.split("/")[0]
    status, made = platd.api("POST", "/v1/tokens", {"org": org, "role": "viewer",
                                                    "name": "ci-bot"})
    assert status == 201, made
    term = _term(platd, cli, "tokens", "revoke", made["id"])
    try:
        term.expect(r"type the token's name \(ci-bot\) to revoke it: ")
        term.send("\r")
        assert term.wait() == 2
    finally:
        term.close()
    assert "token ci-bot not revoked: no name was typed" in term.text
    assert platd.api("GET", "/v1/whoami", token=made["token"])[0] == 200
    assert cli("tokens", "revoke", made["id"], "--yes").code == 0
    assert platd.api("GET", "/v1/whoami", token=made["token"])[0] == 401


# --- describe says names, not ids ---------------------------------------------------------


def test_describe_release_shows_bundles_with_versions_and_hosts_by_name(
        cli: Any, platd: Any, target: str) -> None:
    satisfy_gate(platd, target)
    assert cli("secrets", "update", "db", "--set", "PASSWORD=two", "--target", target).code == 0
    assert cli("deploy", "-f", str(MANIFEST), "--target", target).code == 0
    r = cli("describe", "release", "v1", "--target", target)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert "  secrets     db v2" in lines
    instance = json.loads(cli("status", "--json", "--target", target).out)[
        "workloads"][0]["instances"][0]
    described = json.loads(cli("describe", "instance", instance["id"], "--json", "--target",
                               target).out)
    host = described["host_name"]
    assert host
    assert host != described["host"]
    assert f"  hosts       {host}" in lines
    assert not any(described["host"] in line for line in lines)
    r = cli("describe", "instance", instance["id"], "--target", target)
    assert f"host {host} ({described['host'][-12:]})" in r.out


# --- a deploy with nothing changed ---------------------------------------------------------


def test_a_deploy_with_nothing_changed_says_so_and_starts_nothing(cli: Any, platd: Any,
                                                                 target: str) -> None:
    satisfy_gate(platd, target)
    assert cli("deploy", "-f", str(MANIFEST), "--target", target).code == 0
    before = json.loads(cli("status", "--json", "--target", target).out)
    events = len(cli("events", "--target", target).out.splitlines())
    r = cli("deploy", "-f", str(MANIFEST), "--target", target)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].startswith(f"Nothing changed: {target} already runs release v1 (")
    assert "  no release was created and no instance was started or stopped" in lines
    assert f"  plat deploy -f {MANIFEST} --target {target} --force" in lines
    assert [x["version"] for x in json.loads(
        cli("releases", "--json", "--target", target).out)["releases"]] == ["v1"]
    after = json.loads(cli("status", "--json", "--target", target).out)
    assert [i["id"] for w in after["workloads"] for i in w["instances"]] == [
        i["id"] for w in before["workloads"] for i in w["instances"]]
    assert len(cli("events", "--target", target).out.splitlines()) == events

    # A change of config is a change: a new release.
    platd.api("PATCH", f"/v1/envs/{target}/config", {"set": {"GREETING": "changed"}})
    r = cli("deploy", "-f", str(MANIFEST), "--target", target, "--detach")
    assert r.out.startswith("Release v2 ")
    # --force rolls out the same release contents again.
    r = cli("deploy", "-f", str(MANIFEST), "--target", target, "--force")
    assert r.code == 0, r.err
    assert r.out.startswith("Release v3 ")
    assert "release v3 converged" in r.out


# --- plat init ------------------------------------------------------------------------------


def test_init_writes_a_starter_manifest_that_deploys(cli: Any, platd: Any, target: str,
                                                      tmp_path: Path) -> None:
    path = tmp_path / "plat.toml"
    r = cli("init", "127.0.0.1:5000/hello:v1", "--port", "8080", "-f", str(path))
    assert r.code == 0, r.err
    assert r.out.splitlines()[0] == f"wrote {path} for app hello: one workload (web)"
    text = path.read_text()
    assert 'image = "127.0.0.1:5000/hello:v1"' in text
    assert "tcp = 8080" in text
    assert cli("manifest", "check", "-f", str(path)).code == 0
    r = cli("deploy", "-f", str(path), "--target", target, "--detach")
    assert r.code == 0, r.err
    # An existing file is never overwritten.
    assert_error(cli("init", "127.0.0.1:5000/other:v2", "-f", str(path)), 2, "already exists")
    assert path.read_text() == text


def test_the_same_deploy_after_a_failed_rollout_is_a_retry(cli: Any, platd: Any,
                                                           target: str, tmp_path: Path) -> None:
    satisfy_gate(platd, target)
    broken = tmp_path / "broken.toml"
    broken.write_text(MANIFEST.read_text().replace("cpu = 0.25", "cpu = 60"))  # no host fits
    assert cli("deploy", "-f", str(broken), "--target", target).code == 8
    r = cli("deploy", "-f", str(broken), "--target", target, "--detach")
    assert r.out.startswith("Release v2 "), r.out + r.err
