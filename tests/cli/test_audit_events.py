"""Config and secret changes are in the event log: who changed which keys, when, in order.

The values used here are distinctive canaries: an event, a system log line or a line of
platd's own log that held one would be found by a plain text search. Config values count as
secret here too, since people do put credentials in plain config.
"""

from __future__ import annotations

import json
import time
from typing import Any

from cli_support import Cli, assert_error, make_token

CONFIG_VALUES = ("cfg-canary-one", "cfg-canary-two", "cfg-canary-three", "cfg-canary-four")
SECRET_VALUES = ("s3cr3t-canary-first", "s3cr3t-canary-second", "s3cr3t-canary-host")


def audit_events(cli: Cli, target: str) -> tuple[str, list[dict[str, Any]]]:
    """`plat events --json` (its whole output) and its config and secret events."""
    r = cli("events", "--json", "--limit", "5000", "--target", target)
    assert r.code == 0, r.err
    rows = [json.loads(line) for line in r.out.splitlines()]
    return r.out, [e for e in rows if e["step"] in ("config", "secret")]


def test_config_and_secret_changes_are_events_naming_keys_never_values(
    cli: Cli, platd: Any, target: str
) -> None:
    t = ("--target", target)
    one, two, three, four = CONFIG_VALUES
    first, second, host = SECRET_VALUES
    assert cli("config", "set", f"A={one}", f"B={two}", *t).code == 0
    assert cli("config", "set", f"A={three}", *t).code == 0
    assert cli("config", "unset", "B", *t).code == 0
    assert cli("config", "set", f"A={three}", *t).code == 0  # unchanged: no version, no event
    assert cli("config", "set", f"B={two}", f"C={four}", *t).code == 0
    # One change that adds, changes and removes (the CLI's set and unset are separate commands).
    status, reply = platd.api("PATCH", f"/v1/envs/{target}/config",
                              {"set": {"C": one, "D": three}, "unset": ["A"]})
    assert status == 200, reply
    assert reply["version"] == 5, reply
    assert cli("secrets", "create", "db", "--set", f"PASSWORD={first}", "--set", "USER=app",
               *t).code == 0
    assert cli("secrets", "update", "db", "--set", f"PASSWORD={second}", "--set", f"HOST={host}",
               *t).code == 0
    assert cli("secrets", "delete", "db", *t).code == 0

    out, events = audit_events(cli, target)
    assert [(e["step"], e["outcome"], e["actor"], e["message"]) for e in events] == [
        ("config", "ok", "admin", "admin changed config (version 1): added A, B"),
        ("config", "ok", "admin", "admin changed config (version 2): changed A"),
        ("config", "ok", "admin", "admin changed config (version 3): removed B"),
        ("config", "ok", "admin", "admin changed config (version 4): added B, C"),
        ("config", "ok", "admin",
         "admin changed config (version 5): added D, changed C, removed A"),
        ("secret", "ok", "admin",
         "admin created secret bundle db (version 1): keys PASSWORD, USER"),
        ("secret", "ok", "admin", "admin updated secret bundle db (version 2): set keys HOST, "
                                  "PASSWORD; it holds HOST, PASSWORD, USER"),
        ("secret", "ok", "admin", "admin deleted secret bundle db (at version 2)"),
    ]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    assert all(e["release_id"] is None and e["workload"] is None for e in events)

    # The human-readable listing shows them too.
    r = cli("events", *t)
    assert r.code == 0, r.err
    assert [line.split()[1:3] for line in r.out.splitlines()] == [
        ["config", "ok"]] * 5 + [["secret", "ok"]] * 3

    # Events are mirrored into the env's system log lines: those must not hold a value either.
    deadline = time.monotonic() + 20
    while True:
        logs = cli("logs", "--source", "system", "--json", *t)
        assert logs.code == 0, logs.err
        if "deleted secret bundle db" in logs.out or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "deleted secret bundle db" in logs.out, logs.out

    # platd logs little at its default level (no access log); the search still covers all of it.
    assert platd.log_path is not None
    assert platd.log_path.exists()
    daemon_log = platd.log()
    assert "admin" in out
    for value in (*CONFIG_VALUES, *SECRET_VALUES):
        assert value not in out, f"plat events --json shows {value}"
        assert value not in logs.out, f"plat logs shows {value}"
        assert value not in daemon_log, f"platd's log holds {value}"


def test_a_rejected_config_or_secret_change_records_no_event(
    cli: Cli, platd: Any, target: str
) -> None:
    t = ("--target", target)
    assert cli("config", "set", "KEEP=1", *t).code == 0
    assert cli("secrets", "create", "db", "--set", "K=v", *t).code == 0
    _, before = audit_events(cli, target)
    assert len(before) == 2
    viewer = make_token(platd, target.split("/")[0], "viewer")

    # Refused by the CLI before any request, then by the daemon before its transaction...
    assert_error(cli("config", "set", "1BAD=x", *t), 2)
    status, reply = platd.api("PATCH", f"/v1/envs/{target}/config",
                              {"set": {"OK": "fine", "1BAD": "x"}})
    assert status == 422, reply
    status, reply = platd.api("PATCH", f"/v1/envs/{target}/secrets/db",
                              {"values": {"K": "nul\x00byte"}})
    assert status == 422, reply
    # ...and by the daemon inside it (what is there, and who may change it, is read there).
    assert_error(cli("config", "unset", "NOPE", *t), 4, "NOPE")
    assert_error(cli("config", "set", "OTHER=2", *t, token=viewer), 3)
    assert_error(cli("secrets", "create", "db", "--set", "X=y", *t), 5)
    assert_error(cli("secrets", "update", "nope", "--set", "X=y", *t), 4)
    assert_error(cli("secrets", "delete", "nope", *t), 4)
    assert_error(cli("secrets", "delete", "db", *t, token=viewer), 3)

    _, after = audit_events(cli, target)
    assert after == before
    listed = json.loads(cli("config", "list", "--json", *t).out)
    assert (listed["version"], listed["values"]) == (1, {"KEEP": "1"})
