"""The field paths of a manifest and the line locator (platd/spec/manifest_lines.py).

The locator maps every dotted path tomllib decodes to the line it was written on, for errors
that cite lines; it must never fail, whatever text it is given.
"""

from __future__ import annotations

import tomllib
from textwrap import dedent
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from platd.spec.manifest_lines import key_path, line_of, locate_lines, parent_path
from tests.unit.test_manifest import DESIGN_EXAMPLE, RICH, toml_ish


def located(text: str) -> dict[str, int]:
    tomllib.loads(text)  # the locator's contract: it only sees text tomllib accepted
    return locate_lines(text)


def all_paths(value: Any, path: str = "") -> list[str]:
    """Every table key and array element path in decoded TOML, spelled as the locator does."""
    found = [path] if path else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += all_paths(child, key_path(path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += all_paths(child, f"{path}[{index}]")
    return found


@pytest.mark.parametrize("text", [DESIGN_EXAMPLE, RICH])
def test_locator_finds_every_path_tomllib_decodes(text: str) -> None:
    lines = located(text)
    source = text.splitlines()
    for path in all_paths(tomllib.loads(text)):
        assert path in lines, path
        assert 1 <= lines[path] <= len(source)
        # The line holds the path's last key or, for an array element, belongs to its array.
        last = path.rsplit(".", 1)[-1].split("[")[0]
        assert last in source[lines[path] - 1] or path.endswith("]"), (path, lines[path])


def test_locator_handles_quoted_and_dotted_keys() -> None:
    lines = located(
        dedent(
            """\
            [ workloads . "web" ]
            health.tcp = 80
            'literal key' = 1
            "a.b" = 2
            "esc\\u0041" = 3
            """
        )
    )
    assert lines["workloads.web"] == 1
    assert lines["workloads.web.health"] == 2
    assert lines["workloads.web.health.tcp"] == 2
    assert lines['workloads.web."literal key"'] == 3
    assert lines['workloads.web."a.b"'] == 4
    assert lines["workloads.web.escA"] == 5


def test_locator_indexes_arrays_of_tables_and_their_subtables() -> None:
    lines = located(
        dedent(
            """\
            [[endpoints]]
            name = "a"

            [[endpoints]]
            name = "b"
            [endpoints.extra]
            x = 1
            [[endpoints.rules]]
            y = 2
            [[endpoints.rules]]
            y = 3
            """
        )
    )
    assert lines["endpoints"] == 1
    assert lines["endpoints[0].name"] == 2
    assert lines["endpoints[1]"] == 4
    assert lines["endpoints[1].name"] == 5
    assert lines["endpoints[1].extra.x"] == 7
    assert lines["endpoints[1].rules[0].y"] == 9
    assert lines["endpoints[1].rules[1].y"] == 11


def test_locator_reads_inline_tables_and_multiline_arrays() -> None:
    lines = located(
        dedent(
            """\
            health = { tcp = 1, http = { port = 2, path = "/}" } }
            ports = [
              1,  # one
              [2, 3],
              { a = 4 },
            ]
            after = true
            """
        )
    )
    assert lines["health.http.port"] == 1
    assert lines["health.http.path"] == 1
    assert lines["ports[0]"] == 3
    assert lines["ports[1][1]"] == 4
    assert lines["ports[2].a"] == 5
    assert lines["after"] == 7


def test_locator_is_not_fooled_by_strings_and_comments() -> None:
    lines = located(
        dedent(
            '''\
            a = """
            [fake]
            b = 1
            """
            c = 'it is # not a comment'  # [nor = this]
            d = "quote \\" [x] e = 1"
            e = \'\'\'
            f = 2\'\'\'\'\'
            # [commented]
            g = 3
            '''
        )
    )
    assert lines == {"a": 1, "c": 5, "d": 6, "e": 7, "g": 10}


def test_locator_handles_windows_line_endings() -> None:
    lines = located('app = "x"\r\n\r\n[workloads.web]\r\nimage = "y"\r\n')
    assert lines == {"app": 1, "workloads": 3, "workloads.web": 3, "workloads.web.image": 4}


@pytest.mark.parametrize("text", ["[", "[[a", "a = [", 'a = "', "= 1", "a = {", "\\", "]]]"])
def test_locator_never_fails_on_garbage(text: str) -> None:
    assert isinstance(locate_lines(text), dict)


def test_line_of_falls_back_to_the_nearest_written_ancestor() -> None:
    lines = {"endpoints[1]": 9, "workloads.web": 3}
    assert line_of(lines, "endpoints[1].internal_port") == 9
    assert line_of(lines, "endpoints[1].external_ports[2]") == 9
    assert line_of(lines, 'workloads.web."odd.key"') == 3
    assert line_of(lines, "volumes[0].mount") == 0


def test_parent_path() -> None:
    assert parent_path("a.b[2]") == "a.b"
    assert parent_path("a.b") == "a"
    assert parent_path('a."x.y"') == "a"
    assert parent_path("a") == ""


@given(st.one_of(st.text(), toml_ish))
def test_locator_terminates_on_any_text(text: str) -> None:
    assert isinstance(locate_lines(text), dict)
