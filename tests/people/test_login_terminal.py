"""plat login at a real terminal (a pseudo-terminal): the hidden token prompt echoes nothing,
and the device flow draws a QR code of its link where the terminal is wide enough."""

from __future__ import annotations

from typing import Any

from tests.conftest import PLAT
from tests.exec.exec_support import Term


def _env(d: Any, tmp: Any) -> dict[str, str]:
    env = d.env(token="")
    env.pop("PLAT_TOKEN", None)
    for sized in ("COLUMNS", "LINES"):  # the terminal's own size decides, as for a person
        env.pop(sized, None)
    env["PLAT_CONFIG_DIR"] = str(tmp)
    return env


def test_token_prompt_hides_what_is_typed(d: Any, tmp_path: Any) -> None:
    term = Term([PLAT, "login", "--api", d.url, "--token-stdin"], _env(d, tmp_path))
    try:
        term.expect("token \\(not shown\\): ")
        term.send(d.token + "\r")
        term.expect("logged in to .* as admin")
        assert term.wait() == 0
        assert d.token not in term.text
        assert d.token in (tmp_path / "config.json").read_text()
    finally:
        term.close()


def test_device_flow_draws_a_qr_code_where_it_fits(d: Any, tmp_path: Any) -> None:
    wide = Term([PLAT, "login", "--api", d.url], _env(d, tmp_path), rows=50, cols=100)
    narrow = Term([PLAT, "login", "--api", d.url], _env(d, tmp_path), rows=50, cols=30)
    try:
        for term in (wide, narrow):
            term.expect("waiting for approval")
        assert "▀" in wide.text
        assert "▀" not in narrow.text
        assert "enter the code" in narrow.text
    finally:
        wide.close()
        narrow.close()
