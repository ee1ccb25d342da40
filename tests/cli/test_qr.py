"""The QR code plat login draws decodes, with zbar (Debian's zbar-tools), to the exact link,
at every version the encoder makes (the link's length decides the version)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tui import qr

pytestmark = pytest.mark.skipif(shutil.which("zbarimg") is None,
                                reason="needs zbarimg (apt-get install zbar-tools)")


def _pbm(modules: list[list[bool]], path: Path, scale: int = 4, quiet: int = 4) -> None:
    size = (len(modules) + 2 * quiet) * scale
    rows = []
    for y in range(size):
        my = y // scale - quiet
        row = []
        for x in range(size):
            mx = x // scale - quiet
            inside = 0 <= mx < len(modules) and 0 <= my < len(modules)
            row.append("1" if inside and modules[my][mx] else "0")
        rows.append(" ".join(row))
    path.write_text(f"P1\n{size} {size}\n" + "\n".join(rows) + "\n")


@pytest.mark.parametrize("length", [10, 17, 30, 50, 70, 100, 130, 150, 190, 230, 271])
def test_code_decodes_to_the_text(tmp_path: Path, length: int) -> None:
    base = "http://10.0.0.5:7400/device?user_code=BCDF-GHJK&pad="
    text = (base + "x" * length)[:length]
    path = tmp_path / "code.pbm"
    _pbm(qr.encode(text), path)
    out = subprocess.run(["zbarimg", "--quiet", "--raw", str(path)], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.rstrip("\n") == text


def test_terminal_drawing_fits_or_is_left_out() -> None:
    link = "http://127.0.0.1:7400/device?user_code=BCDF-GHJK"
    lines = qr.terminal_lines(link, 80)
    width = len(qr.encode(link)) + 2 * qr.QUIET
    assert lines
    assert all(len(line) == width for line in lines)
    assert len(lines) == (width + 1) // 2
    assert qr.terminal_lines(link, width - 1) == []
    assert qr.terminal_lines("x" * 300, 500) == []
