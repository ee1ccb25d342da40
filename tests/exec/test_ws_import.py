"""tui.ws_import: websockets comes in without importlib.metadata, and the real module is there
for whatever imports it later; a websockets that needs the module while it is imported still
gets it (the ordinary import). Each case runs in a fresh interpreter: imports are global."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str, *path: Path) -> str:
    env_path = ":".join([*map(str, path), str(ROOT)])
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                       text=True, env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_websockets_loads_without_importlib_metadata_which_stays_importable() -> None:
    out = _python("""
        import sys
        from tui import ws_import
        ws_import.load()
        print("metadata" if "importlib.metadata" in sys.modules else "lean")
        from websockets.sync.client import connect
        import importlib.metadata
        print(importlib.metadata.version("websockets") == sys.modules["websockets"].__version__)
    """)
    assert out.splitlines() == ["lean", "True"]


def test_a_websockets_that_uses_importlib_metadata_on_import_gets_the_real_one(
    tmp_path: Path,
) -> None:
    package = tmp_path / "websockets"
    (package / "sync").mkdir(parents=True)
    (package / "__init__.py").write_text(
        "import importlib.metadata\n__version__ = importlib.metadata.version('pytest')\n")
    (package / "sync" / "__init__.py").write_text("")
    (package / "sync" / "client.py").write_text("connect = object()\n")
    out = _python("""
        import sys
        from tui import ws_import
        ws_import.load()
        import websockets, websockets.sync.client
        print(bool(websockets.__version__), type(sys.modules["importlib.metadata"].version))
    """, tmp_path)
    assert out == "True <class 'function'>"
