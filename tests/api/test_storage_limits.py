"""Storage grows with what changed, and an env cannot store more than its limits (issue #19).

Before versions were layers, every config change stored the whole set again: ten 24-byte
changes to a large config grew state.db by ~100 MB. These tests read the real SQLite file.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from api_support import assert_wire_error, env_url, make_env, state

BIG = {f"BLOB_{i}": "x" * 60_000 for i in range(15)}  # ~900 KB, under the 1M default limit


def _stored(d: Any, sql: str, *args: Any) -> int:
    with sqlite3.connect(d.data / "state.db") as conn:
        return int(conn.execute(sql, args).fetchone()[0] or 0)


def _env_id(d: Any, target: str) -> str:
    name = target.split("/")[0]
    with sqlite3.connect(d.data / "state.db") as conn:
        row = conn.execute(
            "SELECT e.id FROM envs e JOIN apps a ON a.id = e.app_id JOIN projects p "
            "ON p.id = a.project_id JOIN orgs o ON o.id = p.org_id WHERE o.name = ?", (name,)
        ).fetchone()
    return str(row[0])


def test_ten_small_config_changes_store_only_what_changed(api: Any) -> None:
    target = make_env(api)
    status, body = api.api("PATCH", env_url(target, "/config"), {"set": BIG})
    assert status == 200, body
    env_id = _env_id(api, target)
    sql = ("SELECT SUM(LENGTH(values_json) + LENGTH(unset_json)) FROM config_versions "
           "WHERE env_id = ?")
    after_big = _stored(api, sql, env_id)
    expected = dict(BIG)
    for n in range(10):
        change = {"COUNTER": f"{n:024d}"}  # 24 bytes each, as in the report
        status, body = api.api("PATCH", env_url(target, "/config"), {"set": change})
        assert status == 200, body
        expected |= change
    status, body = api.api("PATCH", env_url(target, "/config"), {"unset": ["BLOB_0"]})
    assert status == 200, body
    del expected["BLOB_0"]
    grown = _stored(api, sql, env_id) - after_big
    assert grown < 2_000, f"eleven small changes stored {grown} bytes"
    status, body = api.api("GET", env_url(target, "/config"))
    assert (status, body["version"], body["values"]) == (200, 12, expected)


def test_a_secret_update_seals_only_the_keys_it_sets(api: Any) -> None:
    target = make_env(api)
    big = {f"CERT_{i}": "k" * 60_000 for i in range(10)}
    status, body = api.api("POST", env_url(target, "/secrets"), {"name": "tls", "values": big})
    assert status == 201, body
    sql = ("SELECT SUM(LENGTH(v.ciphertext)) FROM secret_versions v JOIN secret_bundles b "
           "ON b.id = v.bundle_id WHERE b.env_id = ?")
    env_id = _env_id(api, target)
    first = _stored(api, sql, env_id)
    for n in range(10):
        status, body = api.api("PATCH", env_url(target, "/secrets/tls"),
                               {"values": {"ROTATION": str(n)}})
        assert status == 200, body
    assert _stored(api, sql, env_id) - first < 10 * 200
    assert body["version"] == 11
    assert sorted(body["keys"]) == sorted([*big, "ROTATION"])


def test_a_config_over_the_env_limit_is_refused_and_nothing_changes(api: Any) -> None:
    target = make_env(api)
    status, body = api.api("PATCH", env_url(target, "/config"), {"set": BIG})
    assert status == 200, body
    before = state(api, target)
    more = {f"MORE_{i}": "y" * 60_000 for i in range(3)}
    status, body = api.api("PATCH", env_url(target, "/config"), {"set": more})
    err = assert_wire_error(body, "invalid_input")
    assert status == 422
    assert "over the limit of 1M per env" in err["message"]
    assert any("env_config_max_bytes" in h for h in err["hint"])
    assert state(api, target) == before
    # Shrinking a set that is over the limit is always allowed.
    status, body = api.api("PATCH", env_url(target, "/config"), {"unset": ["BLOB_1"]})
    assert status == 200, body


def test_secret_bundles_over_the_env_limit_are_refused_across_bundles(api: Any) -> None:
    target = make_env(api)
    half = {f"K{i}": "s" * 60_000 for i in range(9)}  # ~540 KB
    status, body = api.api("POST", env_url(target, "/secrets"), {"name": "one", "values": half})
    assert status == 201, body
    before = state(api, target)
    status, body = api.api("POST", env_url(target, "/secrets"), {"name": "two", "values": half})
    err = assert_wire_error(body, "invalid_input")
    assert status == 422
    assert "the secret bundles of" in err["message"]
    assert "s" * 100 not in str(body)
    assert state(api, target) == before
