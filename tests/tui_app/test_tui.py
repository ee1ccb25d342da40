"""The TUI against a real daemon: pilot tests of what an operator relies on."""

from __future__ import annotations

import asyncio
from typing import Any

from textual.widgets import DataTable, RichLog, TabbedContent

from tests.conftest import Daemon
from tests.tui_app.conftest import TARGET, make_app
from tui.screens.confirm import ConfirmScreen
from tui.screens.env_picker import EnvPicker


async def wait_for(pilot: Any, predicate: Any, timeout: float = 20.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError("the screen never showed what was expected")


def table_text(app: Any, selector: str) -> str:
    table = app.query_one(selector, DataTable)
    return "\n".join(" ".join(str(c) for c in table.get_row_at(i)) for i in range(table.row_count))


def test_status_shows_desired_and_current(tui_daemon: Daemon) -> None:
    async def run() -> None:
        app = make_app(tui_daemon, stable=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.query_one("#workloads", DataTable).row_count == 1)
            assert "web 1/1 1 1" in table_text(app, "#workloads")
            assert "v2 running healthy" in table_text(app, "#instances")

    asyncio.run(run())


def test_rollback_needs_confirmation_and_shows_the_receipt(tui_daemon: Daemon) -> None:
    async def run() -> None:
        app = make_app(tui_daemon, stable=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("2")
            table = app.query_one("#releases-table", DataTable)
            await wait_for(pilot, lambda: table.row_count == 2 and app.focused is table)
            await pilot.press("down")  # v1: releases are listed newest first
            await pilot.press("b")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            preview = "\n".join(app.screen.lines)
            assert f"Roll {TARGET} back to release v1" in preview
            assert "~ workload web: image" in preview
            await pilot.press("n")  # declining changes nothing
            await pilot.pause(0.3)
            current = [r for r in tui_daemon.plat("releases", "--json", "--target", TARGET)
                       .json()["releases"] if r["current"]]
            assert current[0]["version"] == "v2"

            await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
            assert app.focused is table, "focus returns to the releases after the dialog"
            await pilot.press("b")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            await wait_for(pilot, lambda: app.query_one(TabbedContent).active == "events")
            releases = tui_daemon.plat("releases", "--json", "--target", TARGET).json()["releases"]
            assert [r["version"] for r in releases if r["current"]] == ["v1"]
            await wait_for(pilot, lambda: any(
                "rolled back to release v1" in str(line) for line in app.query_one(RichLog).lines))
            # Put v2 back for the other tests.
            assert tui_daemon.plat("rollback", "v2", "--target", TARGET).code == 0

    asyncio.run(run())


def test_env_picker_lists_envs_and_switches(tui_daemon: Daemon) -> None:
    tui_daemon.make_env("acme/shop/hello/staging")

    async def run() -> None:
        app = make_app(tui_daemon, stable=False, target=None)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, EnvPicker))
            picker = app.screen
            await wait_for(pilot, lambda: picker.query_one("OptionList").option_count == 2)
            await pilot.press("enter")  # the first env, in name order: prod
            await wait_for(pilot, lambda: app.target == TARGET)
            await wait_for(pilot, lambda: app.query_one("#workloads", DataTable).row_count == 1)

    asyncio.run(run())


def test_events_survive_a_daemon_restart(tui_daemon: Daemon) -> None:
    async def run() -> None:
        app = make_app(tui_daemon, stable=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("3")
            log = app.query_one(RichLog)
            await wait_for(pilot, lambda: len(log.lines) > 3)
            tui_daemon.stop()
            await pilot.pause(1.0)
            tui_daemon.start()
            assert tui_daemon.plat("scale", "web", "--count", "2", "--target", TARGET).code == 0
            await wait_for(pilot, lambda: any("scaled web" in str(line) for line in log.lines),
                           timeout=20)
            assert tui_daemon.plat("scale", "web", "--count", "1", "--target", TARGET).code == 0

    asyncio.run(run())


def test_the_env_picked_is_remembered_for_the_next_run(tui_daemon: Daemon, tmp_path: Any,
                                                       monkeypatch: Any) -> None:
    """bare plat saves the pick where `plat use` does, and the next start opens on it."""
    from tui import app as app_module
    from tui.cli import settings

    monkeypatch.setenv("PLAT_CONFIG_DIR", str(tmp_path))
    monkeypatch.delenv("PLAT_TARGET", raising=False)
    tui_daemon.make_env("acme/shop/hello/staging")

    async def run() -> None:
        app = make_app(tui_daemon, stable=False, target=settings.default_target())
        app._remember = app_module.remember
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, EnvPicker))
            picker = app.screen
            await wait_for(pilot, lambda: picker.query_one("OptionList").option_count == 2)
            await pilot.press("down", "enter")  # staging
            await wait_for(pilot, lambda: app.target == "acme/shop/hello/staging")

    asyncio.run(run())
    assert settings.default_target() == "acme/shop/hello/staging"

    async def again() -> None:
        app = make_app(tui_daemon, stable=False, target=settings.default_target())
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause(0.5)
            assert not isinstance(app.screen, EnvPicker), "no question the second time"
            assert app.target == "acme/shop/hello/staging"

    asyncio.run(again())


def test_a_late_focus_report_does_not_switch_tabs_back(tui_daemon: Daemon) -> None:
    """Textual reports a focus inside a tab pane later, as a message. One that arrives after a
    key has switched tabs (and focused the new pane) must not switch back: it did, and then the
    two tabs took turns forever, freezing the app (seen after 6 then Enter on a busy machine)."""
    from textual.widgets import TabPane

    async def run() -> None:
        app = make_app(tui_daemon, stable=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.query_one("#workloads", DataTable).row_count == 1)
            tabs = app.query_one(TabbedContent)
            await pilot.press("6")
            await wait_for(pilot, lambda: tabs.active == "volumes")
            # The report of a focus the status pane had before the key, arriving only now.
            tabs.post_message(TabPane.Focused(app.query_one("#status", TabPane)))
            seen = set()
            for _ in range(20):
                await pilot.pause(0.05)
                seen.add(tabs.active)
            assert seen == {"volumes"}, f"tabs shown after the late report: {sorted(seen)}"
            assert app.focused is not None
            assert app.query_one("#volumes") in app.focused.ancestors

    asyncio.run(run())


def test_deleting_an_endpoint_in_the_palette_asks_for_its_name(tui_daemon: Daemon) -> None:
    from textual.widgets import Input

    from tests.conftest import free_port
    from tui.screens.type_name import TypeNameScreen

    r = tui_daemon.plat("endpoints", "create", "doomed", "--workload", "web", "--internal-port",
                        "8080", "--port", str(free_port()), "--target", TARGET)
    assert r.code == 0, r.err

    def names() -> list[str]:
        listed = tui_daemon.plat("endpoints", "list", "--json", "--target", TARGET).json()
        return [e["name"] for e in listed["endpoints"]]

    async def run() -> None:
        app = make_app(tui_daemon, stable=False)
        async with app.run_test(size=(110, 30)) as pilot:
            for typed in ("doome", "doomed"):
                app.run_command_line("endpoints delete doomed")
                await wait_for(pilot, lambda: isinstance(app.screen, TypeNameScreen))
                said = "\n".join([*app.screen.said, app.screen.question])
                assert "Deleting endpoint doomed: it stops listening at once" in said
                assert "type the endpoint's name (doomed) to delete it:" in said
                app.screen.query_one(Input).value = typed
                await pilot.press("enter")
                await wait_for(pilot, lambda: not isinstance(app.screen, TypeNameScreen))
                if typed == "doome":
                    await pilot.pause(0.5)
                    assert "doomed" in names(), "a wrong name deletes nothing"
            await wait_for(pilot, lambda: "doomed" not in names())

    asyncio.run(run())
