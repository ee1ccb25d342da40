"""The ``plat`` program as people and scripts use it, against a real daemon.

Every test runs the installed ``plat`` executable in a subprocess and asserts on what a user
relies on: exit codes, the words on stdout and stderr, the files it writes, and the state the
daemon ends up in.
"""

from __future__ import annotations

import json
import re
import shlex
import stat
from pathlib import Path
from typing import Any

import pytest
from cli_support import (
    MANIFEST,
    Cli,
    assert_error,
    free_port,
    make_env,
    make_token,
    run_plat,
    satisfy_gate,
    unique,
)

from platd import __version__
from platd.spec.errors import EXIT_CODES

# --- the program itself --------------------------------------------------------------------


def test_version() -> None:
    r = run_plat("--version", env={})
    assert r.code == 0
    assert r.out.strip() == f"plat {__version__}"


def test_help_lists_every_command_and_exit_code() -> None:
    r = run_plat("--help", env={})
    assert r.code == 0, r.err
    for command in ("login", "whoami", "orgs", "projects", "apps", "envs", "use", "config",
                    "secrets", "manifest", "deploy", "wait", "releases", "rollback", "scale",
                    "status", "events"):
        assert re.search(rf"^\s+{command}\s+\S", r.out, re.MULTILINE), command
    assert "exit codes:" in r.out
    for code, meaning in EXIT_CODES.items():
        assert re.search(rf"^\s+{code}\s+{re.escape(meaning)}$", r.out, re.MULTILINE), code


def test_help_fits_the_terminal_width() -> None:
    """argparse wraps help to the terminal; plat looks the width up itself (no shutil), the
    same way: $COLUMNS first."""
    for columns in (50, 120):
        r = run_plat("deploy", "--help", env={"COLUMNS": str(columns)})
        assert r.code == 0, r.err
        # Option names are never wrapped (argparse's rule); the words around them are.
        prose = [line for line in r.out.splitlines() if " -" not in line and "[" not in line]
        widest = max(len(line) for line in prose)
        assert columns - 12 <= widest <= columns, (columns, widest)


# --- login, whoami and the stored config ---------------------------------------------------


def test_login_stores_credentials_privately_and_whoami_needs_nothing_else(cli: Any,
                                                                          platd: Any) -> None:
    r = cli.bare("login", "--api", platd.url, "--token-stdin", input=platd.token)
    assert r.code == 0, r.err
    assert f"logged in to {platd.url} as admin (host admin)" in r.out
    assert str(cli.config_file) in r.out
    assert stat.S_IMODE(cli.config_file.stat().st_mode) == 0o600
    stored = json.loads(cli.config_file.read_text())
    assert (stored["api"], stored["token"]) == (platd.url, platd.token)

    r = cli.bare("whoami")
    assert r.code == 0, r.err
    assert f"api      {platd.url}" in r.out
    assert "token    admin (host admin)" in r.out
    assert "expires  never" in r.out
    assert platd.token not in r.out
    me = json.loads(cli.bare("whoami", "--json").out)
    assert (me["api"], me["name"], me["role"], me["org"]) == (platd.url, "admin", "admin", None)


def test_plat_api_and_plat_token_override_the_stored_login(cli: Any, platd: Any) -> None:
    org = make_env(platd).split("/")[0]
    viewer = make_token(platd, org, "viewer")
    assert cli.bare("login", "--api", platd.url, "--token-stdin", input=platd.token).code == 0

    me = json.loads(cli.bare("whoami", "--json", PLAT_TOKEN=viewer).out)
    assert (me["org"], me["role"]) == (org, "viewer")

    dead = f"http://127.0.0.1:{free_port()}"
    r = cli.bare("whoami", PLAT_API=dead)
    assert_error(r, 10, dead)
    # The stored login itself is untouched by either override.
    assert json.loads(cli.config_file.read_text())["token"] == platd.token


def test_login_with_a_bad_token_fails_and_stores_nothing(cli: Any, platd: Any) -> None:
    r = cli.bare("login", "--api", platd.url, "--token-stdin", input="plat_wrong")
    assert_error(r, 3, "not valid")
    assert not cli.config_file.exists()

    # An earlier good login survives a failed one.
    assert cli.bare("login", "--api", platd.url, "--token-stdin", input=platd.token).code == 0
    before = cli.config_file.read_text()
    assert_error(cli.bare("login", "--api", platd.url, "--token-stdin", input="plat_wrong"), 3)
    assert cli.config_file.read_text() == before


def test_a_token_on_the_command_line_still_works_with_a_warning(cli: Any, platd: Any) -> None:
    r = cli.bare("login", "--api", platd.url, "--token", platd.token)
    assert r.code == 0, r.err
    assert "--token-stdin" in r.err
    assert "--token " not in cli.bare("login", "--help").out  # no longer offered


@pytest.mark.parametrize(("given", "why"), [("", "no token was given"),
                                            ("plat_a plat_b\n", "not one token")])
def test_login_refuses_what_is_not_one_token_on_stdin(cli: Any, platd: Any, given: str,
                                                      why: str) -> None:
    r = cli.bare("login", "--api", platd.url, "--token-stdin", input=given)
    assert_error(r, 2, why)
    assert not cli.config_file.exists()


def test_login_to_an_address_where_no_daemon_runs_fails_with_exit_10(cli: Any) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    assert_error(cli.bare("login", "--api", dead, "--token-stdin", input="plat_x"), 10,
                 "platd serve")
    assert not cli.config_file.exists()


def test_whoami_without_any_login_says_how_to_log_in(cli: Any) -> None:
    hints = assert_error(cli.bare("whoami"), 3)
    assert any("plat login" in h for h in hints)


# --- targets -------------------------------------------------------------------------------


def test_use_sets_the_default_target(cli: Any, platd: Any, target: str) -> None:
    r = cli("use", target)
    assert r.code == 0, r.err
    assert json.loads(cli.config_file.read_text())["target"] == target

    r = cli("config", "set", "FROM_DEFAULT=yes")
    assert r.code == 0, r.err
    assert f"config of {target} is now version 1" in r.out
    assert platd.api("GET", f"/v1/envs/{target}/config")[1]["values"] == {"FROM_DEFAULT": "yes"}
    assert json.loads(cli("whoami", "--json").out)["target"] == target

    # A bare name completes from the default target.
    r = cli("envs", "create", "staging")
    assert r.code == 0, r.err
    assert target.rsplit("/", 1)[0] + "/staging" in r.out


def test_use_refuses_an_env_that_does_not_exist(cli: Any, target: str) -> None:
    assert cli("use", target).code == 0
    missing = target.rsplit("/", 1)[0] + "/nowhere"
    hints = assert_error(cli("use", missing), 2, "prod")
    assert any(f"plat envs create {missing}" in h for h in hints)
    assert json.loads(cli.config_file.read_text())["target"] == target


def test_without_a_target_commands_say_how_to_set_one(cli: Any) -> None:
    hints = assert_error(cli("config", "list"), 2)
    assert any("plat use ORG/PROJECT/APP/ENV" in h for h in hints)
    assert any("--target" in h for h in hints)


def test_target_flags_override_the_default(cli: Any, platd: Any, target: str) -> None:
    staging = make_env(platd, target.rsplit("/", 1)[0] + "/staging")
    other = make_env(platd)
    assert cli("use", target).code == 0

    assert cli("config", "set", "WHERE=target", "--target", other).code == 0
    assert cli("config", "set", "WHERE=env-flag", "--env", "staging").code == 0
    r = cli("config", "set", "WHERE=level-flags", "--org", other.split("/")[0], "--project",
            "shop", "--app", "hello", "--env", "prod")
    assert r.code == 0, r.err
    assert cli("config", "set", "WHERE=default").code == 0

    def where(path: str) -> tuple[int, str]:
        body = platd.api("GET", f"/v1/envs/{path}/config")[1]
        return body["version"], body["values"]["WHERE"]

    assert where(target) == (1, "default")
    assert where(staging) == (1, "env-flag")
    assert where(other) == (2, "level-flags")


# --- the tree ------------------------------------------------------------------------------


def test_tree_create_list_and_delete(cli: Any) -> None:
    org = unique("tree")
    for plural, path in (("orgs", org), ("projects", f"{org}/shop"),
                         ("apps", f"{org}/shop/web"), ("envs", f"{org}/shop/web/prod")):
        r = cli(plural, "create", path)
        assert r.code == 0, r.err
        assert f"created {plural[:-1]} {path}" in r.out
    assert f"make it the default with: plat use {org}/shop/web/prod" in r.out

    assert org in [o["name"] for o in json.loads(cli("orgs", "list", "--json").out)]
    assert [p["path"] for p in json.loads(cli("projects", "list", org, "--json").out)] == [
        f"{org}/shop"]
    assert [a["path"] for a in json.loads(cli("apps", "list", f"{org}/shop", "--json").out)] == [
        f"{org}/shop/web"]
    r = cli("envs", "list", f"{org}/shop/web")
    assert r.code == 0, r.err
    assert f"{org}/shop/web/prod" in r.out

    hints = assert_error(cli("projects", "delete", f"{org}/shop", "--yes"), 5,
                         f"project {org}/shop still has apps: web")
    assert hints == [f"delete them first: plat apps delete {org}/shop/NAME"]
    assert [p["path"] for p in json.loads(cli("projects", "list", org, "--json").out)] == [
        f"{org}/shop"]

    for plural, path in (("envs", f"{org}/shop/web/prod"), ("apps", f"{org}/shop/web"),
                         ("projects", f"{org}/shop"), ("orgs", org)):
        r = cli(plural, "delete", path, "--yes")
        assert r.code == 0, r.err
        assert r.out.strip() == f"deleted {plural[:-1]} {path}"
    assert org not in [o["name"] for o in json.loads(cli("orgs", "list", "--json").out)]


def test_tree_create_refuses_bad_and_duplicate_names(cli: Any, target: str) -> None:
    org = target.split("/")[0]
    assert_error(cli("orgs", "create", "Bad_Name"), 2, "bad-name")
    assert_error(cli("projects", "create", f"{org}/shop"), 5, "already exists")
    assert_error(cli("envs", "create", "not/enough"), 2)


# --- config --------------------------------------------------------------------------------


def test_config_set_unset_list_and_import(cli: Any, target: str, tmp_path: Path) -> None:
    t = ("--target", target)
    r = cli("config", "set", "A=1", "B=two words", *t)
    assert r.code == 0, r.err
    assert r.out.splitlines()[0] == f"config of {target} is now version 1: +A +B"
    r = cli("config", "set", "A=3", *t)
    assert r.out.splitlines()[0] == f"config of {target} is now version 2: ~A"
    r = cli("config", "unset", "B", *t)
    assert r.out.splitlines()[0] == f"config of {target} is now version 3: -B"
    r = cli("config", "set", "A=3", *t)
    assert r.out.strip() == f"config of {target} unchanged (still version 3)"

    r = cli("config", "list", *t)
    assert r.code == 0, r.err
    assert r.out.splitlines() == [f"{target} config version 3", "  A=3"]

    env_file = tmp_path / "prod.env"
    env_file.write_text('# settings\nexport C=from-file\nD="quoted value"\n\nE=\n')
    r = cli("config", "import", str(env_file), *t)
    assert r.code == 0, r.err
    assert r.out.splitlines()[0] == f"config of {target} is now version 4: +C +D +E"
    listed = json.loads(cli("config", "list", "--json", *t).out)
    assert listed["version"] == 4
    assert listed["values"] == {"A": "3", "C": "from-file", "D": "quoted value", "E": ""}

    assert_error(cli("config", "unset", "NOPE", *t), 4, "NOPE")
    assert_error(cli("config", "set", "NO_EQUALS_SIGN", *t), 2)
    assert json.loads(cli("config", "list", "--json", *t).out)["version"] == 4


def test_config_import_of_a_malformed_file_names_the_line_and_changes_nothing(
    cli: Any, target: str, tmp_path: Path
) -> None:
    t = ("--target", target)
    assert cli("config", "set", "KEEP=1", *t).code == 0
    bad = tmp_path / "bad.env"
    bad.write_text("GOOD=1\n# fine\nthis line is not a setting hunter2\nLATER=2\n")
    assert_error(cli("config", "import", str(bad), *t), 2, f"{bad} line 3")
    r = cli("config", "import", str(bad), *t)
    assert "hunter2" not in r.err
    listed = json.loads(cli("config", "list", "--json", *t).out)
    assert (listed["version"], listed["values"]) == (1, {"KEEP": "1"})
    assert_error(cli("config", "import", str(tmp_path / "missing.env"), *t), 2, "missing.env")


# --- secrets -------------------------------------------------------------------------------

CANARY = "s3cr3t-canary-value"


def test_secrets_create_list_describe_update_delete_never_print_values(
    cli: Any, target: str, tmp_path: Path
) -> None:
    t = ("--target", target)
    outputs: list[str] = []

    def run(*args: str) -> Any:
        r = cli(*args, *t)
        outputs.extend([r.out, r.err])
        return r

    secrets_file = tmp_path / "db.env"
    secrets_file.write_text(f"PASSWORD={CANARY}\nUSER=app-{CANARY}\n")
    r = run("secrets", "create", "db", "--from-file", str(secrets_file))
    assert r.code == 0, r.err
    assert r.out.splitlines()[:3] == [
        f"secret bundle db in {target}: version 1", "  keys: PASSWORD, USER",
        "  delivered as the file /run/secrets/db"]
    r = run("secrets", "create", "cache", "--set", f"TOKEN={CANARY}")
    assert r.code == 0, r.err

    r = run("secrets", "list")
    assert r.code == 0, r.err
    rows = [line.split() for line in r.out.splitlines()]
    assert rows[0] == ["BUNDLE", "VERSION", "KEYS", "FILE"]
    assert ["cache", "1", "TOKEN", "/run/secrets/cache"] in rows
    assert ["db", "1", "PASSWORD,", "USER", "/run/secrets/db"] in rows
    listed = json.loads(run("secrets", "list", "--json").out)
    assert [(b["name"], b["keys"]) for b in listed] == [("cache", ["TOKEN"]),
                                                       ("db", ["PASSWORD", "USER"])]

    r = run("secrets", "update", "db", "--set", f"PASSWORD={CANARY}-2", "--set", "HOST=h")
    assert r.code == 0, r.err
    assert r.out.splitlines()[:2] == [f"secret bundle db in {target}: version 2",
                                      "  keys: HOST, PASSWORD, USER"]

    r = run("secrets", "describe", "db")
    assert r.code == 0, r.err
    assert "version 2" in r.out.splitlines()[0]
    versions = [line.split() for line in r.out.splitlines() if re.match(r"^\d+\s", line)]
    assert [(v[0], v[2], " ".join(v[3:])) for v in versions] == [
        ("1", "admin", "PASSWORD, USER"), ("2", "admin", "HOST, PASSWORD, USER")]
    described = json.loads(run("secrets", "describe", "db", "--json").out)
    assert [v["version"] for v in described["versions"]] == [1, 2]

    assert_error(run("secrets", "create", "db", "--set", "X=y"), 5, "plat secrets update db")
    assert_error(run("secrets", "create", "empty"), 2)

    r = run("secrets", "delete", "cache")
    assert r.code == 0, r.err
    assert f"deleted secret bundle cache from {target}" in r.out
    assert [b["name"] for b in json.loads(run("secrets", "list", "--json").out)] == ["db"]
    assert_error(run("secrets", "describe", "cache"), 4, "cache")

    for text in outputs:
        assert CANARY not in text


# --- manifest check (no daemon) ------------------------------------------------------------


def test_manifest_check_needs_no_daemon(tmp_path: Path) -> None:
    env = {"PLAT_CONFIG_DIR": str(tmp_path / "nothing-here")}
    r = run_plat("manifest", "check", "-f", str(MANIFEST), env=env)
    assert r.code == 0, r.err
    assert r.out.splitlines() == [f"{MANIFEST} is valid: app hello, 1 workload(s): web",
                                  "  requires env vars: GREETING",
                                  "  requires secret bundles: db"]
    checked = json.loads(run_plat("manifest", "check", "-f", str(MANIFEST), "--json",
                                  env=env).out)
    assert checked["valid"] is True
    assert checked["manifest"]["app"] == "hello"

    # The default file is ./plat.toml.
    (tmp_path / "plat.toml").write_text(MANIFEST.read_text())
    assert run_plat("manifest", "check", env=env, cwd=tmp_path).code == 0


@pytest.mark.parametrize(("text", "needles"), [
    ('app = "hello"\n\n[workloads.web]\nimage = "x:1"\ncount = "two"\n',
     ["line 5", "workloads.web.count"]),
    ('app = "hello"\n\n[workloads.web]\nimage = "x:1"\nbogus = 1\n',
     ["line 5", "workloads.web.bogus", "bogus"]),
    ('app = "hello"\n[workloads.web\n', ["line 2", "not valid TOML"]),
    ('app = "Hello World"\n\n[workloads.web]\nimage = "x:1"\n', ["line 1", "app"]),
])
def test_manifest_check_of_an_invalid_file_names_field_and_line(tmp_path: Path, text: str,
                                                                 needles: list[str]) -> None:
    path = tmp_path / "plat.toml"
    path.write_text(text)
    r = run_plat("manifest", "check", "-f", str(path), env={})
    assert_error(r, 2, str(path), *needles)

    r = run_plat("manifest", "check", "-f", str(path), "--json", env={})
    assert r.code == 2
    assert r.out == ""
    err = json.loads(r.err)["error"]
    assert err["code"] == "manifest_invalid"
    assert all(issue["line"] for issue in err["details"]["issues"])


def test_manifest_check_of_a_missing_file(tmp_path: Path) -> None:
    assert_error(run_plat("manifest", "check", "-f", str(tmp_path / "nope.toml"), env={}), 2,
                 "nope.toml")


# --- the config gate, deploy, wait -------------------------------------------------------


def _manifest_line(needle: str) -> int:
    return next(i for i, line in enumerate(MANIFEST.read_text().splitlines(), start=1)
                if line.startswith(needle))


@pytest.mark.parametrize(("text", "needles"), [
    ('app = "hello"\n\n[workloads.web]\nimage = "x:1"\ncount = "two"\n',
     ["line 5", "workloads.web.count"]),
    ('app = "hello"\n[workloads.web\n', ["line 2", "not valid TOML"]),
])
def test_a_deploy_of_an_invalid_manifest_names_file_field_and_line_and_creates_nothing(
        cli: Any, target: str, tmp_path: Path, text: str, needles: list[str]) -> None:
    """plat leaves the manifest's checks to the daemon (it parses it only to build or for a
    bare --image): the refusal still names the file, the field and the line."""
    path = tmp_path / "plat.toml"
    path.write_text(text)
    r = cli("deploy", "-f", str(path), "--target", target)
    assert_error(r, 2, str(path), *needles)
    r = cli("deploy", "-f", str(path), "--target", target, "--json")
    assert r.code == 2
    assert json.loads(r.err)["error"]["code"] == "manifest_invalid"
    assert json.loads(cli("releases", "--json", "--target", target).out)["releases"] == []


def test_config_gate_end_to_end(cli: Any, platd: Any, target: str) -> None:
    r = cli("deploy", "-f", str(MANIFEST), "--target", target)
    assert r.code == 6, (r.out, r.err)
    assert r.out == ""
    assert r.err.startswith(f"error: refusing to create a release for {target}")
    assert f"env var GREETING (required at {MANIFEST} line {_manifest_line('required')})" in r.err
    assert f"secret bundle db (required at {MANIFEST} line {_manifest_line('bundles')})" in r.err
    commands = re.findall(r"(plat (?:config set|secrets create) .*?--target \S+)", r.err)
    assert commands == [f"plat config set GREETING=... --target {target}",
                        f"plat secrets create db --set KEY=... --target {target}"]
    assert json.loads(cli("releases", "--json", "--target", target).out)["releases"] == []

    for command in commands:
        argv = shlex.split(command.replace("...", "filled-in-by-test"))
        assert argv[0] == "plat"
        r = cli(*argv[1:])
        assert r.code == 0, (command, r.err)

    r = cli("deploy", "-f", str(MANIFEST), "--target", target)
    assert r.code == 0, r.err
    assert "release v1 converged" in r.out
    values = platd.api("GET", f"/v1/envs/{target}/config")[1]["values"]
    assert values == {"GREETING": "filled-in-by-test"}


def test_deploy_prints_a_receipt_and_follows_until_converged(cli: Any, platd: Any,
                                                              target: str) -> None:
    satisfy_gate(platd, target)
    r = cli("deploy", "-f", str(MANIFEST), "--target", target)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    head = re.match(rf"^Release v1 \(([0-9a-f-]{{36}})\) accepted for {re.escape(target)}$",
                    lines[0])
    assert head, lines[0]
    release_id = head.group(1)
    assert re.match(r"^  image   web: 127\.0\.0\.1:5000/hello@sha256:[0-9a-f]{12}$", lines[1])
    assert lines[2] == "  config  version 1; secret bundles: db"
    assert "Changes (first release):" in lines
    changes = lines[lines.index("Changes (first release):") + 1: lines.index("Next:")]
    assert "  + workload web (2 × 0.25 cpu, 64M)" in changes
    assert "  + secret bundle db" in changes
    follow_ups = lines[lines.index("Next:") + 1: lines.index("Next:") + 4]
    assert follow_ups == [f"  plat wait {release_id} --target {target}",
                          f"  plat events --release {release_id} --target {target}",
                          f"  plat status --target {target}"]
    progress = lines[lines.index("Next:") + 4:]
    assert any(re.search(r"\brollout\s+ok\b", line) for line in progress), progress
    assert progress[-1] == "release v1 converged: every instance is running and healthy"
    assert r.err == ""
    releases = json.loads(cli("releases", "--json", "--target", target).out)["releases"]
    assert [(x["id"], x["status"]) for x in releases] == [(release_id, "converged")]


def test_deploy_json_prints_the_receipt_as_json(cli: Any, platd: Any, target: str) -> None:
    satisfy_gate(platd, target)
    r = cli("deploy", "-f", str(MANIFEST), "--target", target, "--json")
    assert r.code == 0, r.err
    receipt = json.loads(r.out)
    assert receipt["action"] == "deploy"
    assert receipt["target"] == target
    assert receipt["release"]["version"] == "v1"
    assert receipt["follow_ups"][0].startswith("plat wait ")


def test_deploy_detach_then_wait(cli: Any, platd: Any, target: str) -> None:
    satisfy_gate(platd, target)
    r = cli("deploy", "-f", str(MANIFEST), "--target", target, "--detach")
    assert r.code == 0, r.err
    assert "converged" not in r.out
    release_id = re.search(r"plat wait (\S+)", r.out).group(1)  # type: ignore[union-attr]
    r = cli("wait", release_id, "--target", target, "--timeout", "30")
    assert r.code == 0, r.err
    assert "converged" in r.out
    r = cli("wait", "--target", target)  # the current release by default
    assert r.code == 0, r.err
    assert r.out.strip() == "release v1 has converged"
    assert json.loads(cli("wait", "--target", target, "--json").out)["status"] == "converged"


def test_wait_with_nothing_deployed_is_refused(cli: Any, target: str) -> None:
    assert_error(cli("wait", "--target", target), 2, "no release")


# --- reading: status, events, releases (one deployed env shared) --------------------------


@pytest.fixture(scope="module")
def deployed(platd: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An env where `plat deploy` of examples/hello converged; nothing may change it."""
    target = make_env(platd)
    satisfy_gate(platd, target)
    cli = Cli(platd, tmp_path_factory.mktemp("plat-config"))
    r = cli("deploy", "-f", str(MANIFEST), "--target", target)
    assert r.code == 0, r.err
    return target


def test_status_shows_desired_and_current(cli: Any, deployed: str) -> None:
    r = cli("status", "--target", deployed)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == f"{deployed}  release v1 (converged)"
    header = next(line for line in lines if line.startswith("WORKLOAD"))
    assert header.split() == ["WORKLOAD", "SERVING/DESIRED", "UPDATED", "RUNNING", "CPU",
                              "MEMORY"]
    assert lines[lines.index(header) + 1].split() == ["web", "2/2", "2", "2", "0.25", "64M"]
    instances = [line.split() for line in lines if re.match(r"^[a-z0-9]{10}\s+web\s", line)]
    assert len(instances) == 2
    assert all(i[2:5] == ["v1", "running", "healthy"] for i in instances)

    s = json.loads(cli("status", "--target", deployed, "--json").out)
    assert s["release"]["version"] == "v1"
    web = s["workloads"][0]
    assert (web["name"], web["desired"], web["current"]) == ("web", 2, 2)


def test_status_with_nothing_deployed(cli: Any, target: str) -> None:
    r = cli("status", "--target", target)
    assert r.code == 0, r.err
    assert r.out.splitlines()[0] == f"{target}: nothing deployed yet"


def test_events_list_the_deploy_and_the_rollout(cli: Any, deployed: str) -> None:
    r = cli("events", "--target", deployed)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    steps = [(line.split()[1], line.split()[2]) for line in lines]
    # satisfy_gate set the config and created the bundle db before the deploy.
    assert steps[:3] == [("config", "ok"), ("secret", "ok"), ("deploy", "ok")]
    assert "admin created and deployed release v1" in lines[2]
    assert ("rollout", "started") in steps
    assert ("rollout", "ok") in steps
    assert steps.index(("rollout", "started")) < steps.index(("rollout", "ok"))
    assert sum(1 for s in steps if s == ("health", "ok")) == 2

    rows = [json.loads(line) for line in cli("events", "--target", deployed, "--json",
                                             "--release", "v1").out.splitlines()]
    assert rows[0]["step"] == "deploy"
    assert {e["release_id"] for e in rows} == {rows[0]["release_id"]}


def test_releases_lists_the_current_release(cli: Any, deployed: str) -> None:
    r = cli("releases", "--target", deployed)
    assert r.code == 0, r.err
    header, row = r.out.splitlines()
    assert header.split() == ["RELEASE", "ID", "CREATED", "BY", "STATUS", "CONFIG", "IMAGES"]
    assert row.split()[:2] == ["*", "v1"]
    assert "converged" in row.split()
    listed = json.loads(cli("releases", "--target", deployed, "--json").out)
    assert [(x["version"], x["current"]) for x in listed["releases"]] == [("v1", True)]


@pytest.mark.parametrize("args", [
    ["status"], ["releases"], ["config", "list"], ["secrets", "list"], ["events"],
    ["describe", "release", "v1"], ["describe", "workload", "web"],
])
def test_json_output_parses(cli: Any, deployed: str, args: list[str]) -> None:
    r = cli(*args, "--json", "--target", deployed)
    assert r.code == 0, r.err
    if args == ["events"]:
        assert all(json.loads(line) for line in r.out.splitlines())
    else:
        json.loads(r.out)


def test_whoami_and_tokens_json_output_parses(cli: Any, platd: Any) -> None:
    assert json.loads(cli("whoami", "--json").out)["role"] == "admin"
    tokens = json.loads(cli("tokens", "list", "--json").out)
    assert all(platd.token not in json.dumps(t) for t in tokens)


# --- errors --------------------------------------------------------------------------------


def test_errors_under_json_are_json_on_stderr(cli: Any, target: str) -> None:
    missing = target.rsplit("/", 1)[0] + "/nowhere"
    r = cli("config", "list", "--json", "--target", missing)
    assert r.code == 4
    assert r.out == ""
    err = json.loads(r.err)["error"]
    assert err["code"] == "not_found"
    assert err["details"]["existing"] == ["prod"]
    assert err["hint"]

    r = cli("status", "--json")  # refused by plat itself: no target
    assert r.code == 2
    assert r.out == ""
    assert json.loads(r.err)["error"]["code"] == "invalid_input"


def test_status_when_the_daemon_is_down_exits_10_with_a_hint_to_start_it(cli: Any) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    hints = assert_error(cli("status", "--target", "a/b/c/d", PLAT_API=dead), 10,
                         f"cannot reach platd at {dead}")
    assert any("platd serve" in h for h in hints)
    r = cli("status", "--target", "a/b/c/d", "--json", PLAT_API=dead)
    assert r.code == 10
    assert json.loads(r.err)["error"]["code"] == "daemon_unreachable"


def test_a_token_without_the_role_gets_exit_3_naming_the_role(cli: Any, platd: Any,
                                                              target: str) -> None:
    viewer = make_token(platd, target.split("/")[0], "viewer")
    hints = assert_error(cli("config", "set", "A=1", "--target", target, token=viewer), 3,
                         "needs deployer")
    assert any("--role deployer" in h for h in hints)
    assert cli("config", "list", "--target", target, token=viewer).code == 0


@pytest.mark.parametrize(("args", "code"), [
    (["config", "list", "--target", "{org}/shop/hello/nowhere"], 4),
    (["secrets", "describe", "nope", "--target", "{target}"], 4),
    (["deploy", "-f", "/nonexistent/plat.toml", "--target", "{target}"], 2),
    (["deploy", "-f", str(MANIFEST), "--target", "{target}"], 6),
    (["scale", "web", "--count", "3", "--target", "{target}"], 4),
    (["rollback", "--target", "{target}"], 5),
    (["config", "set", "lowercase is fine but spaces are not=1", "--target", "{target}"], 2),
    (["orgs", "create", "UPPER"], 2),
    (["projects", "delete", "{org}/shop", "--yes"], 5),
    (["envs", "delete", "{target}"], 2),  # no terminal to confirm on, and no --yes
    (["describe", "release", "v9", "--target", "{target}"], 4),
    (["status", "--target", "{target}/extra"], 2),
    (["events", "--limit", "0", "--target", "{target}"], 2),
    (["events", "--since", "the day before", "--target", "{target}"], 2),
    (["config", "set", "BIG=" + "x" * 70_000, "--target", "{target}"], 2),
    (["config", "import", "/nonexistent/prod.env", "--target", "{target}"], 2),
    (["secrets", "create", "db", "--from-file", "/nonexistent/db.env", "--target", "{target}"], 2),
    (["tokens", "revoke", "no-such-token", "--yes"], 4),
    (["use", "only/three/parts"], 2),
])
def test_every_error_goes_to_stderr_with_a_hint(cli: Any, target: str, args: list[str],
                                                code: int) -> None:
    org = target.split("/")[0]
    argv = [a.format(org=org, target=target) for a in args]
    assert_error(cli(*argv), code)


def test_a_bad_token_in_the_environment_gets_exit_3_with_a_hint(cli: Any, target: str) -> None:
    hints = assert_error(cli("status", "--target", target, token="plat_revoked-or-wrong"), 3)
    assert any("plat tokens create" in h or "plat login" in h for h in hints)
