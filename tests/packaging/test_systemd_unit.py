"""The units in packaging/systemd pass ``systemd-analyze verify``; platd.service keeps what
platd needs.

``verify`` checks that each Exec*= binary exists and is executable, and platd.service's,
/usr/local/bin/platd, exists only on a bootstrapped host. So the main check verifies a copy
whose Exec*= binaries point at a stub executable (the only change), and a second check runs the
real platd.service and accepts exactly one complaint: that binary missing. ``verify`` exits 0
even for unknown keys and unparsable values (it logs "ignoring"), so every check demands
silence, not just a zero exit. Needs no running systemd: ``verify`` works on files alone.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "packaging" / "systemd"
UNIT = UNITS / "platd.service"
INSTALLED_BINARIES = ("/usr/local/bin/platd", "/usr/local/lib/platd/listen-guard")
ANALYZE = shutil.which("systemd-analyze")

pytestmark = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze is missing (apt-get install -y systemd)")


def verify(unit: Path) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run([ANALYZE, "verify", "--man=no", str(unit)],
                          capture_output=True, text=True, timeout=60)


def unit_copy(tmp_path: Path, unit: Path, text: str | None = None) -> Path:
    """The unit under its own name in tmp_path, every Exec*= binary replaced by a stub."""
    stub = tmp_path / "stub"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    lines = []
    for line in (unit.read_text() if text is None else text).splitlines():
        key, sep, value = line.partition("=")
        if key.startswith("Exec") and sep:
            binary, _, args = value.partition(" ")
            prefix = binary[:len(binary) - len(binary.lstrip("+-!@:"))]
            assert binary[len(prefix):].startswith("/"), line
            line = f"{key}={prefix}{stub} {args}"
        lines.append(line)
    copy = tmp_path / unit.name
    copy.write_text("\n".join(lines) + "\n")
    return copy


def directives(text: str) -> dict[str, list[str]]:
    """Key -> values, in order (systemd allows repeated keys such as Environment=)."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


@pytest.mark.parametrize("name", ["platd.service", "platd-firewall.service"])
def test_unit_verifies_cleanly(tmp_path: Path, name: str) -> None:
    r = verify(unit_copy(tmp_path, UNITS / name))
    assert (r.returncode, r.stdout + r.stderr) == (0, "")


def test_the_real_file_only_lacks_the_installed_binary() -> None:
    r = verify(UNIT)
    if all(Path(b).exists() for b in INSTALLED_BINARIES):
        assert (r.returncode, r.stdout + r.stderr) == (0, "")
        return
    lines = (r.stdout + r.stderr).strip().splitlines()
    assert r.returncode != 0
    assert lines
    assert all(any(b in line for b in INSTALLED_BINARIES) for line in lines), lines


def test_verify_is_not_silent_about_mistakes(tmp_path: Path) -> None:
    """Guards the test itself: a misspelt key and a bad value must produce output."""
    text = UNIT.read_text().replace("Restart=always", "Restrt=always")
    text = text.replace("ProtectSystem=strict", "ProtectSystem=stricter")
    r = verify(unit_copy(tmp_path, UNIT, text))
    assert "Restrt" in r.stderr
    assert "stricter" in r.stderr


def test_unit_keeps_what_platd_needs() -> None:
    """The constraints the sandbox must not break, each for a reason in the unit's header."""
    d = directives(UNIT.read_text())
    assert d["ExecStart"] == [
        "/usr/local/bin/platd serve --data /var/lib/platd --listen ${PLAT_LISTEN} $PLATD_OPTS"]
    assert d["EnvironmentFile"][0] == "-/etc/default/platd"
    assert "PLAT_LISTEN=127.0.0.1:7400" in d["Environment"]
    assert d["StateDirectory"] == ["platd"]
    # Restarts forever, with a delay: no start limit to give up at.
    assert d["Restart"] == ["always"]
    assert d["StartLimitIntervalSec"] == ["0"]
    assert "RestartPreventExitStatus" not in d
    assert d["RestartSec"] == ["5s"]
    for key in ("After", "Wants"):
        assert set(" ".join(d[key]).split()) >= {"docker.service", "network-online.target",
                                                 "platd-firewall.service"}
    # Fail closed: the guard decides the address before platd starts; its file wins.
    assert d["ExecStartPre"] == ["+/usr/local/lib/platd/listen-guard"]
    assert d["EnvironmentFile"][-1] == "-/run/platd/listen.env"
    assert d["RuntimeDirectory"] == ["platd"]
    # Secret files are shared with dockerd through the host's /dev/shm, created 0444.
    assert "/dev/shm" in " ".join(d["ReadWritePaths"]).split()
    assert d.get("PrivateDevices", ["no"]) == ["no"]
    assert int(d["UMask"][0], 8) & 0o004 == 0
    # The bundled packages extract into SHIV_ROOT: it must be a writable directory of the unit.
    assert "SHIV_ROOT=/var/cache/platd" in d["Environment"]
    assert d["CacheDirectory"] == ["platd"]
    assert d["ProtectSystem"] == ["strict"]


# Options that give the unit a mount namespace of its own, or a device allow-list without the
# loop devices; sized volumes need neither (packaging/systemd/platd.service.d/volumes.conf).
PRIVATE_MOUNTS_OR_DEVICES = (
    "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "PrivateMounts",
    "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
    "ProtectControlGroups", "ProtectClock", "ProtectProc", "ReadOnlyPaths", "InaccessiblePaths",
)
VOLUMES_DROP_IN = UNITS / "platd.service.d" / "volumes.conf"


def test_unit_with_the_volumes_drop_in_verifies_cleanly(tmp_path: Path) -> None:
    copy = unit_copy(tmp_path, UNIT)
    (tmp_path / "platd.service.d").mkdir()
    shutil.copy(VOLUMES_DROP_IN, tmp_path / "platd.service.d" / "volumes.conf")
    r = verify(copy)
    assert (r.returncode, r.stdout + r.stderr) == (0, "")


def test_volumes_drop_in_lifts_every_private_mount_and_gives_back_mounting() -> None:
    unit = directives(UNIT.read_text())
    drop_in = directives(VOLUMES_DROP_IN.read_text())
    off = {"no", "default", ""}
    for key in PRIVATE_MOUNTS_OR_DEVICES:
        if unit.get(key, ["no"])[-1] not in off:
            assert drop_in.get(key, [None])[-1] in off, f"{key} is still on with the drop-in"
    assert "CAP_SYS_ADMIN" in unit["CapabilityBoundingSet"][0]  # the unit takes it away...
    assert drop_in["CapabilityBoundingSet"] == ["CAP_SYS_ADMIN"]  # ...the drop-in adds it back
    assert drop_in["SystemCallFilter"] == ["@mount"]


def test_firewall_brings_a_loopback_only_platd_back_once_loaded() -> None:
    d = directives((UNITS / "platd-firewall.service").read_text())
    again = ("+/bin/sh -c 'test ! -e /run/platd/listen.env || "
             "systemctl --no-block try-restart platd.service'")
    assert d["ExecStartPost"] == [again]
    assert d["ExecReload"][-1] == again
    assert "ExecStop" not in d, "stopping the firewall must not open the port"
    assert "platd.service" in d["Before"][0].split()


@pytest.mark.parametrize("name", ["platd-volumes.socket", "platd-volumes@.service"])
def test_volume_helper_units_verify_cleanly(tmp_path: Path, name: str) -> None:
    for unit in ("platd-volumes.socket", "platd-volumes@.service"):
        unit_copy(tmp_path, UNITS / unit)
    r = verify(tmp_path / name)
    assert (r.returncode, r.stdout + r.stderr) == (0, "")


def exposure(tmp_path: Path, unit: str, drop_in: str | None = None) -> float:
    """``systemd-analyze security --offline`` of a unit (with one drop-in) as installed."""
    copy = unit_copy(tmp_path, UNITS / unit)
    if drop_in:
        (tmp_path / f"{unit}.d").mkdir()
        shutil.copy(UNITS / "platd.service.d" / drop_in, tmp_path / f"{unit}.d" / drop_in)
    if "@" in unit:
        copy = copy.rename(tmp_path / unit.replace("@", "@x"))
    assert ANALYZE is not None
    r = subprocess.run([ANALYZE, "security", "--offline=true", "--no-pager", str(copy)],
                       capture_output=True, text=True, timeout=60)
    line = next(x for x in r.stdout.splitlines() if "Overall exposure level" in x)
    return float(line.split(":")[1].split()[0])


@pytest.mark.parametrize(("unit", "drop_in", "limit"), [
    ("platd.service", None, 4.0),
    ("platd.service", "volumes-helper.conf", 4.0),
    ("platd-volumes@.service", None, 4.0),
    ("platd-firewall.service", None, 3.0),
])
def test_exposure_stays_ok(tmp_path: Path, unit: str, drop_in: str | None,
                           limit: float) -> None:
    """The sandbox scores documented in packaging/README.md; a loosened option fails here."""
    assert exposure(tmp_path, unit, drop_in) <= limit
