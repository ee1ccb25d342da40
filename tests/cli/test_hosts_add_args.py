"""``plat hosts add``: what it accepts and refuses before it connects anywhere, and the
inventory data it hands the playbooks (the run itself: tests/playbooks/test_hosts_add.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from platd.spec.errors import InvalidInput
from tui import hostadd

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "playbooks"))
import plat_host


@pytest.mark.parametrize(("text", "user", "address", "port"), [
    ("ssh://root@192.0.2.7", "root", "192.0.2.7", 22),
    ("ssh://admin@[2001:db8::7]:2222", "admin", "2001:db8::7", 2222),
    ("192.0.2.9", "root", "192.0.2.9", 22),
    ("ssh://localhost", "root", "127.0.0.1", 22),
])
def test_targets(text: str, user: str, address: str, port: int) -> None:
    t = hostadd.parse_target(text)
    assert (t.user, t.address, t.port) == (user, address, port)


@pytest.mark.parametrize("text", [
    "http://root@192.0.2.7", "ssh://root:pw@192.0.2.7", "ssh://root@192.0.2.7/x",
    "ssh://root@192.0.2.7:99999", "ssh://Root;rm@192.0.2.7", "ssh://root@-bad-",
    "ssh://root@" + "a" * 300,
])
def test_bad_targets_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        hostadd.parse_target(text)


def test_labels_and_region() -> None:
    assert hostadd.parse_labels(["disk=ssd"], "ams") == {"disk": "ssd", "region": "ams"}
    for bad in (["disk"], ["Disk=ssd"], ["disk=a b"], ["disk="]):
        with pytest.raises(InvalidInput):
            hostadd.parse_labels(bad, None)
    with pytest.raises(InvalidInput):
        hostadd.parse_labels([], "AMS!")


def test_the_inventory_data_makes_or_joins_a_cluster(tmp_path: Path) -> None:
    t = hostadd.parse_target("ssh://root@192.0.2.7")
    data = hostadd.host_data(t, name="h1", pyz=tmp_path, labels={"region": "ams", "disk": "ssd"},
                             peers=["192.0.2.0/24"], api_port=7400, cluster="edge", join=None,
                             join_token_file=None, ssh_key=None, known_hosts="/k")
    assert data["platd_listen"] == "0.0.0.0:7400"
    assert data["platd_advertise"] == "https://192.0.2.7:7400"
    assert data["platd_ingress_driver"] == "haproxy"  # endpoints reach every host's instances
    assert (data["platd_region"], data["platd_labels"]) == ("ams", {"disk": "ssd"})
    line = plat_host.init_command(data, "h1", "/out")
    assert line.endswith("--gossip 192.0.2.7:7946 --advertise https://192.0.2.7:7400 "
                         "--cluster edge > /out")
    v6 = hostadd.parse_target("ssh://root@[2001:db8::7]")
    joined = hostadd.host_data(v6, name="h2", pyz=tmp_path, labels={}, peers=[],
                               api_port=7400, cluster=None, join="https://192.0.2.7:7400",
                               join_token_file="/t", ssh_key=None, known_hosts="/k")
    assert joined["platd_listen"] == "[::]:7400"
    line = plat_host.init_command(joined, "h2", "/out")
    assert line.startswith(f'PLAT_JOIN_TOKEN="$(cat {plat_host.JOIN_TOKEN_FILE})" ')
    assert f"rm -f {plat_host.JOIN_TOKEN_FILE}" in line
    assert "platj_" not in line


@pytest.mark.parametrize(("data", "why"), [
    ({"platd_cluster": "edge", "platd_join": "https://a:7400"}, "exclude each other"),
    ({"platd_cluster": "Edge!", "platd_gossip": "10.0.0.1:7946",
      "platd_advertise": "https://10.0.0.1:7400"}, "platd_cluster must be"),
    ({"platd_cluster": "edge", "platd_gossip": "10.0.0.1"}, "platd_gossip must be"),
    ({"platd_join": "x; rm -rf /", "platd_gossip": "10.0.0.1:7946",
      "platd_advertise": "https://10.0.0.1:7400"}, "platd_join must be"),
])
def test_bad_cluster_data_is_refused(data: dict[str, str], why: str) -> None:
    with pytest.raises(plat_host.HostDataError, match=why):
        plat_host.init_command(data, "h", "/out")


def test_the_cli_refuses_bad_input_without_a_traceback(tmp_path: Path) -> None:
    from tests.conftest import PLAT

    r = subprocess.run([PLAT, "hosts", "add", "ftp://x"], capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin", "PLAT_CONFIG_DIR": str(tmp_path)},
                       timeout=60, check=False)
    assert r.returncode == 2
    assert "write it as ssh://root@ADDRESS" in r.stderr
    assert "Traceback" not in r.stderr
