"""packaging/pyz_main.py, the single-file plat's ``__main__``: where it finds the extracted
bundle. Its path must be absolute whatever ``SHIV_ROOT`` says, as shiv's own bootstrap makes it
(``site.addsitedir``): a relative entry on ``sys.path`` would point elsewhere once the working
directory changes. The module is loaded by path (its start-up code runs only as ``__main__``)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

MAIN = Path(__file__).resolve().parents[2] / "packaging" / "pyz_main.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pyz_main_under_test", MAIN)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def extracted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An extracted bundle under tmp/cache, the working directory tmp, argv[0] tmp/plat."""
    pyz_main = load()
    for key in [k for k in os.environ if k.startswith("SHIV_")]:
        monkeypatch.delenv(key)
    (tmp_path / "plat").write_text("")
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "plat"), "--version"])
    site = tmp_path / "cache" / f"plat_{pyz_main.BUILD_ID}" / "site-packages"
    (site / "bin").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    return site


@pytest.mark.parametrize("root", ["cache", "./cache", "$PLAT_TEST_ROOT"])
def test_a_relative_shiv_root_gives_an_absolute_site_packages(
        extracted: Path, monkeypatch: pytest.MonkeyPatch, root: str) -> None:
    monkeypatch.setenv("PLAT_TEST_ROOT", "cache")
    monkeypatch.setenv("SHIV_ROOT", root)
    site = load()._site_packages()
    assert site == str(extracted)
    assert os.path.isabs(site)


def test_an_absolute_shiv_root_is_kept_and_other_settings_go_to_shivs_bootstrap(
        extracted: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIV_ROOT", str(extracted.parents[1]))
    assert load()._site_packages() == str(extracted)
    monkeypatch.setenv("SHIV_FORCE_EXTRACT", "1")
    assert load()._site_packages() is None
