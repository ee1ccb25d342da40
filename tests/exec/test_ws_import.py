"""tui.ws_import: websockets comes in without importlib.metadata, and the real module is there
for whatever imports it later; a websockets that needs the module while it is imported still
gets it (the ordinary import). The modules it defers (ssl without TLS, urllib.request,
traceback, inspect) are the real ones for every use, however they are reached. Each case runs
in a fresh interpreter: imports are global."""

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


def test_deferred_modules_are_not_imported_until_used_and_then_are_the_real_ones() -> None:
    out = _python("""
        import sys
        from tui import ws_import
        ws_import.load(tls=False)
        names = ("ssl", "urllib.request", "traceback", "inspect")
        print(all(isinstance(sys.modules[n], ws_import.Deferred) for n in names))
        from websockets.sync import client
        # websockets' own reference, used as on a wss:// address: the real ssl behind it
        context = client.ssl_module.create_default_context()
        import ssl
        print(type(sys.modules["ssl"]).__name__, isinstance(context, ssl.SSLContext),
              client.ssl_module.SSLContext is ssl.SSLContext)
        import urllib.request
        print(isinstance(urllib.request.getproxies(), dict),
              sys.modules["urllib.request"] is urllib.request)
        import traceback, inspect
        print(traceback.format_exception_only(ValueError("x"))[0].strip(),
              inspect.isfunction(print))
        print(any(isinstance(m, ws_import.Deferred) for m in sys.modules.values()))
    """)
    assert out.splitlines() == ["True", "module True True", "True True", "ValueError: x False",
                                "False"]


def test_with_tls_ssl_is_imported_as_usual_and_an_imported_module_is_never_replaced() -> None:
    out = _python("""
        import gc, sys, inspect
        real = inspect
        from tui import ws_import
        ws_import.load(tls=True)
        print(type(sys.modules["ssl"]).__name__, sys.modules["inspect"] is real, gc.isenabled())
    """)
    assert out == "module True True"  # and the garbage collector, paused meanwhile, runs again


def test_threads_that_use_a_deferred_module_at_once_all_get_the_one_real_module() -> None:
    out = _python("""
        import sys, threading
        from tui import ws_import
        ws_import.defer("json.tool")
        stand_in = sys.modules["json.tool"]
        start, got = threading.Barrier(8), []
        def use():
            start.wait()
            got.append(stand_in.main)
        threads = [threading.Thread(target=use) for _ in range(8)]
        for t in threads: t.start()
        for t in threads: t.join()
        import json.tool
        print(len(got), len({id(f) for f in got}), got[0] is json.tool.main,
              type(sys.modules["json.tool"]).__name__)
    """)
    assert out == "8 1 True module"


def test_find_spec_answers_for_a_deferred_module_without_importing_it() -> None:
    """A stand-in carries the real module's spec: ``importlib.util.find_spec`` (which reads
    ``sys.modules[name].__spec__``) works while it is deferred, and nothing imports it."""
    out = _python("""
        import importlib.util, sys
        from tui import ws_import
        ws_import.load(tls=False)
        names = ("ssl", "urllib.request", "traceback", "inspect")
        specs = [importlib.util.find_spec(n) for n in names]
        print(all(isinstance(sys.modules[n], ws_import.Deferred) for n in names),
              "_ssl" in sys.modules, "http.client" in sys.modules)
        print([s.name for s in specs], specs[0].origin.endswith("ssl.py"))
        import ssl
        ssl.SSLContext  # the first use imports the real module, with its own spec
        real = sys.modules["ssl"]
        print(type(real).__name__, real.__spec__.origin == specs[0].origin)
    """)
    assert out.splitlines() == [
        "True False False",
        "['ssl', 'urllib.request', 'traceback', 'inspect'] True",
        "module True",
    ]
