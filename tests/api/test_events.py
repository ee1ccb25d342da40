"""The events page a rollout is followed with: filtered by release, it says where that release
stands, so `plat deploy`, `rollback` and `wait` conclude without asking for the release again."""

from __future__ import annotations

from typing import Any

from api_support import deploy, env_url, satisfy_gate, wait_converged


def test_a_page_filtered_by_release_carries_its_version_and_status(api: Any,
                                                                   fresh_env: str) -> None:
    satisfy_gate(api, fresh_env)
    status, receipt = deploy(api, fresh_env)
    assert status == 201, receipt
    release = receipt["release"]
    wait_converged(api, fresh_env)

    status, page = api.api("GET", env_url(
        fresh_env, f"/events?after={receipt['event_cursor']}&release={release['id'][:12]}"))
    assert status == 200, page
    assert page["release"] == {"id": release["id"], "version": "v1", "status": "converged"}
    steps = [(e["step"], e["outcome"]) for e in page["events"]]
    assert ("rollout", "ok") in steps

    # The same page without the filter is about no release in particular.
    status, page = api.api("GET", env_url(fresh_env, f"/events?after={receipt['event_cursor']}"))
    assert status == 200, page
    assert "release" not in page
