"""Secret bundles: values go in, and never come back out of the API or rest in clear on disk.

The values used here are distinctive canaries, so a search of every response body and of the
SQLite files finds them if any code path ever echoes, logs or stores them in clear text.
"""

from __future__ import annotations

import json
import stat
from typing import Any

import pytest
from api_support import (
    assert_wire_error,
    deploy,
    env_url,
    make_env,
    state,
    wait_converged,
)

CANARY = "s3cr3t-canary-value"
CANARY_2 = "s3cr3t-canary-rotated"
CANARY_3 = "s3cr3t-canary-added"
KEY = "CANARY_PASSWORD"


@pytest.fixture(scope="module")
def history(api: Any) -> dict[str, Any]:
    """Create, update, deploy and read everything once; keep every response seen."""
    target = make_env(api)
    seen: dict[str, Any] = {}

    def call(label: str, method: str, rest: str, body: Any = None) -> Any:
        status, reply = api.api(method, env_url(target, rest), body)
        assert 200 <= status < 300, (label, reply)
        seen[label] = reply
        return reply

    call("config", "PATCH", "/config", {"set": {"GREETING": "hello"}})
    call("create", "POST", "/secrets", {"name": "db", "values": {KEY: CANARY}})
    call("update", "PATCH", "/secrets/db", {"values": {KEY: CANARY_2, "CANARY_USER": CANARY_3}})
    status, receipt = deploy(api, target)
    assert status == 201, receipt
    seen["deploy receipt"] = receipt
    wait_converged(api, target)
    call("list", "GET", "/secrets")
    call("describe", "GET", "/secrets/db")
    call("releases", "GET", "/releases")
    call("release", "GET", "/releases/v1")
    call("events", "GET", "/events")
    call("status", "GET", "/status")
    call("workload", "GET", "/workloads/web")
    instance = seen["status"]["workloads"][0]["instances"][0]["id"]
    call("instance", "GET", f"/instances/{instance}")
    call("config list", "GET", "/config")
    return {"target": target, "seen": seen}


@pytest.mark.parametrize("label", [
    "create", "update", "deploy receipt", "list", "describe", "releases", "release", "events",
    "status", "workload", "instance", "config list",
])
def test_secret_values_never_appear_in_an_api_response(history: dict[str, Any],
                                                       label: str) -> None:
    text = json.dumps(history["seen"][label])
    for value in (CANARY, CANARY_2, CANARY_3, "s3cr3t"):
        assert value not in text, f"{label} shows a secret value"


def test_secret_values_are_not_stored_in_clear_in_the_database(api: Any,
                                                               history: dict[str, Any]) -> None:
    files = [p for p in (api.data / "state.db", api.data / "state.db-wal") if p.exists()]
    assert api.data / "state.db" in files
    stored = b"".join(p.read_bytes() for p in files)
    # The search can see the bundle's rows: key names are stored in clear, values must not be.
    assert KEY.encode() in stored
    for value in (CANARY, CANARY_2, CANARY_3):
        assert value.encode() not in stored, f"{value} is in the database in clear text"
        assert value.encode("utf-16-le") not in stored


def test_the_data_dir_holds_no_clear_secret_anywhere(api: Any, history: dict[str, Any]) -> None:
    for path in api.data.rglob("*"):
        if path.is_file():
            assert CANARY_2.encode() not in path.read_bytes(), path


def test_the_key_file_is_private(api: Any) -> None:
    key = api.data / "secret.key"
    mode = stat.S_IMODE(key.stat().st_mode)
    assert mode == 0o600, oct(mode)
    assert len(key.read_bytes()) == 32


def test_describe_shows_key_names_and_versions(history: dict[str, Any]) -> None:
    described = history["seen"]["describe"]
    assert described["name"] == "db"
    assert described["file"] == "/run/secrets/db"
    assert described["version"] == 2
    assert described["keys"] == [KEY, "CANARY_USER"]
    assert [(v["version"], v["keys"]) for v in described["versions"]] == [
        (1, [KEY]), (2, [KEY, "CANARY_USER"])]
    assert all(v["created_by"] == "admin" for v in described["versions"])
    listed = history["seen"]["list"]
    assert [(b["name"], b["version"], b["keys"]) for b in listed] == [
        ("db", 2, [KEY, "CANARY_USER"])]


def test_a_release_pins_the_bundle_version_it_was_created_with(api: Any,
                                                               history: dict[str, Any]) -> None:
    described = history["seen"]["describe"]
    release = history["seen"]["release"]
    assert release["secret_versions"] == {"db": described["versions"][-1]["id"]}


def test_update_merges_keys_into_a_new_version_that_instances_receive(
    api: Any, fresh_env: str
) -> None:
    api.api("PATCH", env_url(fresh_env, "/config"), {"set": {"GREETING": "hi"}})
    status, v1 = api.api("POST", env_url(fresh_env, "/secrets"),
                         {"name": "db", "values": {"USER": "app", "PASSWORD": "old-pw"}})
    assert status == 201, v1
    status, v2 = api.api("PATCH", env_url(fresh_env, "/secrets/db"),
                         {"values": {"PASSWORD": "new-pw", "HOST": "db.internal"}})
    assert status == 200, v2
    assert (v1["version"], v2["version"]) == (1, 2)
    assert v2["keys"] == ["HOST", "PASSWORD", "USER"]
    assert v2["versions"][0]["keys"] == ["PASSWORD", "USER"]
    assert v2["versions"][0]["id"] == v1["versions"][0]["id"]

    status, receipt = deploy(api, fresh_env)
    assert status == 201, receipt
    wait_converged(api, fresh_env)
    _, current = api.api("GET", env_url(fresh_env, "/status"))
    instance = current["workloads"][0]["instances"][0]["id"]
    # What the container sees at /run/secrets/db: the merged values of version 2.
    delivered = (api.secrets_root / instance / "db").read_text()
    assert sorted(delivered.splitlines()) == ["HOST=db.internal", "PASSWORD=new-pw", "USER=app"]


def test_update_of_a_missing_bundle_is_404_and_creates_nothing(api: Any, fresh_env: str) -> None:
    before = state(api, fresh_env)
    status, reply = api.api("PATCH", env_url(fresh_env, "/secrets/db"), {"values": {"K": "v"}})
    assert status == 404, reply
    err = assert_wire_error(reply, "not_found")
    assert any("plat secrets create db" in line for line in err["hint"]), err
    assert state(api, fresh_env) == before


def test_delete_removes_the_bundle_and_the_name_can_be_reused(api: Any, fresh_env: str) -> None:
    status, created = api.api("POST", env_url(fresh_env, "/secrets"),
                              {"name": "db", "values": {"K": CANARY}})
    assert status == 201, created
    status, deleted = api.api("DELETE", env_url(fresh_env, "/secrets/db"))
    assert status == 200, deleted
    assert deleted["name"] == "db"
    assert CANARY not in json.dumps(deleted)
    assert api.api("GET", env_url(fresh_env, "/secrets"))[1] == []
    status, reply = api.api("GET", env_url(fresh_env, "/secrets/db"))
    assert status == 404, reply
    status, reply = api.api("DELETE", env_url(fresh_env, "/secrets/db"))
    assert status == 404, reply
    status, again = api.api("POST", env_url(fresh_env, "/secrets"),
                            {"name": "db", "values": {"OTHER": "v"}})
    assert status == 201, again
    assert (again["version"], again["keys"]) == (1, ["OTHER"])
    assert again["id"] != created["id"]


def test_deleting_a_bundle_the_manifest_needs_closes_the_gate(api: Any, fresh_env: str) -> None:
    api.api("PATCH", env_url(fresh_env, "/config"), {"set": {"GREETING": "hi"}})
    api.api("POST", env_url(fresh_env, "/secrets"), {"name": "db", "values": {"K": "v"}})
    assert deploy(api, fresh_env)[0] == 201
    api.api("DELETE", env_url(fresh_env, "/secrets/db"))
    status, reply = deploy(api, fresh_env)
    assert status == 409, reply
    missing = assert_wire_error(reply, "config_gate")["details"]["missing"]
    assert [(m["kind"], m["name"]) for m in missing] == [("secret", "db")]


@pytest.mark.parametrize("name", ["DB", "1db", "db_main", "db/x", "-db", "db-", "a" * 41, ""])
def test_bundle_names_are_validated(api: Any, fresh_env: str, name: str) -> None:
    status, reply = api.api("POST", env_url(fresh_env, "/secrets"),
                            {"name": name, "values": {"K": "v"}})
    assert status == 422, reply
    err = assert_wire_error(reply, "invalid_input")
    assert "secret bundle" in err["message"]
    assert api.api("GET", env_url(fresh_env, "/secrets"))[1] == []


@pytest.mark.parametrize("values", [{}, {"1KEY": "v"}, {"KEY-X": "v"}, {"K": "a\x00b"}])
def test_bundle_values_are_validated_without_echoing_them(api: Any, fresh_env: str,
                                                          values: dict[str, str]) -> None:
    status, reply = api.api("POST", env_url(fresh_env, "/secrets"),
                            {"name": "db", "values": {k: v + CANARY for k, v in values.items()}})
    assert status == 422, reply
    assert_wire_error(reply, "invalid_input")
    assert CANARY not in json.dumps(reply)
    assert api.api("GET", env_url(fresh_env, "/secrets"))[1] == []
