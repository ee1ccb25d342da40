"""Run by the single-file plat (shiv's preamble) before the program, on every start.

packaging/build-pyz fills in @NAME@, @PYVER@ and @MACHINE@ for each target. Two jobs:

- stop with a clear message on an interpreter the bundled compiled wheels do not fit, naming
  the build that would fit (the bootstrap playbook picks it by itself from /etc/os-release);
- remove the extractions of other builds from SHIV_ROOT (about 100 MB each), so upgrades do not
  fill the disk. Only ``plat daemon serve`` does it: by then systemd has stopped the previous
  platd, the one process that could still be running from an old extraction. Other commands
  leave the directory alone, since an old platd may still run from it.
"""

import os
import sys

# shutil and pathlib are imported by the cleanup, which only `plat daemon serve` runs: this
# file runs before every command.

BUILDS = {("3.11", "x86_64"): "debian12-amd64", ("3.11", "aarch64"): "debian12-arm64",
          ("3.13", "x86_64"): "debian13-amd64", ("3.13", "aarch64"): "debian13-arm64"}


def _check_interpreter() -> None:
    have = (f"{sys.version_info[0]}.{sys.version_info[1]}", os.uname().machine)
    if sys.implementation.name == "cpython" and have == ("@PYVER@", "@MACHINE@"):
        return
    fits = BUILDS.get(have)
    sys.exit(
        f"plat: this file is the build plat-@NAME@, for CPython @PYVER@ on @MACHINE@, but this "
        f"host runs {sys.implementation.name} {have[0]} on {have[1]}; "
        + (f"install plat-{fits} instead (the bootstrap playbook chooses it by itself)"
           if fits else "plat is built for Debian 12 and 13 (CPython 3.11 and 3.13) on "
                        "amd64 and arm64 only")
    )


def _remove_other_builds(site_packages: str) -> None:
    import shutil
    from pathlib import Path

    current = Path(site_packages).parent
    stem = current.name.rsplit("_", 1)[0]
    for entry in current.parent.iterdir():
        name = entry.name
        if entry == current or name == f".{current.name}_lock":
            continue
        if name.startswith(f"{stem}_") and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        elif name.startswith(f".{stem}_") and name.endswith("_lock"):
            entry.unlink(missing_ok=True)


_check_interpreter()
if sys.argv[1:3] == ["daemon", "serve"] and "site_packages" in globals():
    try:
        _remove_other_builds(str(site_packages))  # type: ignore[name-defined]  # noqa: F821
    except OSError as e:
        print(f"plat: could not remove old extractions: {e}", file=sys.stderr)
