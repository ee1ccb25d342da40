"""argparse's translations are looked up once (tui/cli/options.py), and not at all where
gettext's own search could find nothing: the shortcut must never skip a catalogue gettext
would have used."""

from __future__ import annotations

import gettext
from pathlib import Path

import pytest

from tui.cli.options import _may_have_catalogue

VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


@pytest.mark.parametrize(("env", "skipped"), [
    ({}, True), ({"LANG": "C"}, True), ({"LANG": "POSIX"}, True), ({"LANGUAGE": "C:de"}, True),
    ({"LC_ALL": "C", "LANG": "de_DE"}, True), ({"LANG": "de_DE.UTF-8"}, False),
    ({"LANGUAGE": "de:fr"}, False), ({"LC_MESSAGES": "fr_FR"}, False),
    ({"LANGUAGE": "", "LANG": "de"}, False),
])
def test_skipped_only_where_gettext_finds_nothing(
    env: dict[str, str], skipped: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    for lang in ("de", "fr"):
        folder = tmp_path / lang / "LC_MESSAGES"
        folder.mkdir(parents=True)
        (folder / "messages.mo").write_bytes(b"")
    for variable in VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    found = gettext.find("messages", str(tmp_path), all=True)
    assert _may_have_catalogue(str(tmp_path)) is not skipped
    if skipped:
        assert found == []  # nothing gettext would have used is skipped
    else:
        assert found  # where a catalogue is there, the search is made
    assert not _may_have_catalogue(str(tmp_path / "absent"))
    assert gettext.find("messages", str(tmp_path / "absent"), all=True) == []
