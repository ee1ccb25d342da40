"""The single-file plat's ``__main__``: straight to the extracted bundle when it is there.

packaging/build-pyz puts this in place of shiv's two-line ``__main__`` (``import _bootstrap;
_bootstrap.bootstrap()``), with @BUILD_ID@ filled in. shiv's bootstrap imports compileall,
subprocess, shutil, hashlib, pathlib, runpy, zipfile and more on every start (30 ms of CPU on
the 2-core VM) although, once the bundle is extracted, all it does is put the extracted
site-packages on ``sys.path``, run the preamble and call ``tui.entry:run``. This does those
three things with ``os`` and ``sys`` alone, exactly as shiv does them, when nothing asks for
more; in every other case it hands over to shiv's bootstrap, which then does everything as it
always did: the first start (nothing extracted yet), any ``SHIV_*`` setting but ``SHIV_ROOT``
(forcing an extraction, another entry point, an interpreter...), or a bundle whose
site-packages hold a ``.pth`` file (shiv's ``site.addsitedir`` would run it).
"""

import os
import sys

BUILD_ID = "@BUILD_ID@"
ENTRY = "tui.entry"  # build-pyz packs with --entry-point tui.entry:run
PREAMBLE = "preamble.py"  # and --preamble preamble.py


def _site_packages():
    """The extracted site-packages, where shiv's ``cache_path`` puts them, or None when they
    are not there or anything asks for shiv's own bootstrap."""
    if any(k.startswith("SHIV_") and k != "SHIV_ROOT" for k in os.environ):
        return None
    root = os.environ.get("SHIV_ROOT")
    if root and root.startswith("$"):
        root = os.environ.get(root[1:], root[1:])
    root = os.path.expanduser(root) if root else os.path.expanduser("~/.shiv")
    name = os.path.basename(os.path.realpath(sys.argv[0]))
    # Absolute, as shiv's site.addsitedir makes it: a relative SHIV_ROOT would leave a
    # sys.path entry that means another directory once anything changes the working directory.
    site = os.path.abspath(os.path.join(root, f"{name}_{BUILD_ID}", "site-packages"))
    try:
        # shiv extracts into a temporary directory and renames it: there means complete.
        if any(entry.endswith(".pth") for entry in os.listdir(site)):
            return None
    except OSError:
        return None
    return site


def _first_site_dir():
    """Where shiv puts the bundle on sys.path: before the interpreter's own site-packages."""
    for index, part in enumerate(sys.path):
        stem = os.path.splitext(os.path.basename(part.rstrip("/")))[0]
        if stem in ("site-packages", "dist-packages"):
            return index or len(sys.path)  # shiv's ``get_first_sitedir_index() or length``
    return len(sys.path)


def _run(site):
    sys.path.insert(_first_site_dir(), site)
    preamble = os.path.join(site, "bin", PREAMBLE)
    with open(preamble, "rb") as f:
        code = compile(f.read(), preamble, "exec")
    # The globals shiv's runpy.run_path gives the preamble (its ``env`` is shiv's own object,
    # which plat's preamble does not use).
    exec(code, {"__name__": "__main__", "__file__": preamble, "archive": sys.argv[0],
                "env": None, "site_packages": site})
    from tui.entry import run

    sys.exit(run())


if __name__ == "__main__":  # always, in the zipapp; a test imports the functions alone
    _site = _site_packages()
    if _site is None:
        import _bootstrap

        _bootstrap.bootstrap()
    else:
        _run(_site)
