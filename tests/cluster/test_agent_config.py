"""The Serf agent's config and plat's host tags: what is written, and what is refused (unit)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from platd.gossip.agent_config import AgentConfig, AgentSecrets, generate_key, render_config
from platd.gossip.tags import MAX_TAGS_BYTES, HostTags, encoded_size
from platd.spec.errors import InvalidInput

SECRETS = AgentSecrets(rpc_auth="r" * 32, keyring=(generate_key(), generate_key()))


def render(config: AgentConfig, secrets: AgentSecrets = SECRETS) -> dict[str, object]:
    return render_config(
        config, secrets, keyring_file=Path("/d/keyring.json"), snapshot_file=Path("/d/snapshot")
    )


def test_the_rendered_config_is_what_platd_relies_on() -> None:
    config = AgentConfig("host-1", "10.0.0.5:7946", tags={"id": "host-1"})
    assert render(config) == {
        "node_name": "host-1",
        "bind": "10.0.0.5:7946",
        "rpc_addr": "127.0.0.1:7373",
        "rpc_auth": "r" * 32,
        "keyring_file": "/d/keyring.json",
        "snapshot_path": "/d/snapshot",
        "tags": {"id": "host-1"},
        "profile": "lan",
        "reconnect_interval": "5s",
        "reconnect_timeout": "72h",
        "tombstone_timeout": "24h",
        "user_event_size_limit": 512,
        "event_handlers": [],
        "leave_on_terminate": False,
        "skip_leave_on_interrupt": True,
        "disable_coordinates": True,
        "log_level": "info",
    }
    joined = render(AgentConfig("h", "[fd00::5]:7946", advertise="[fd00::5]:7946",
                                retry_join=("10.0.0.6:7946",)))
    assert joined["retry_join"] == ["10.0.0.6:7946"]
    assert joined["advertise"] == "[fd00::5]:7946"


@pytest.mark.parametrize(
    ("config", "words"),
    [
        (AgentConfig("h", "10.0.0.5:7946", rpc_addr="0.0.0.0:7373"), "must listen on loopback"),
        (AgentConfig("h", "10.0.0.5"), "bind '10.0.0.5' is not IP:PORT"),
        (AgentConfig("h", "node-a:7946"), "is not IP:PORT"),
        (AgentConfig("", "10.0.0.5:7946"), "node name"),
        (AgentConfig("h", "10.0.0.5:7946", reconnect_interval="5"), "not a duration"),
        (AgentConfig("h", "10.0.0.5:7946", profile="fast"), "unknown Serf timing profile"),  # type: ignore[arg-type]
        (AgentConfig("h", "10.0.0.5:7946", tags={"x": "y" * 600}), "Serf carries at most 512"),
    ],
)
def test_bad_settings_are_refused_with_what_is_wrong(config: AgentConfig, words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        render(config)


def test_bad_secrets_are_refused_without_showing_them() -> None:
    config = AgentConfig("h", "10.0.0.5:7946")
    not_a_key = "c2hvcnQ="  # base64 of 5 bytes
    with pytest.raises(InvalidInput, match="key #2 is not base64") as refused:
        render(config, AgentSecrets("r" * 32, (generate_key(), not_a_key)))
    assert not_a_key not in str(refused.value)
    with pytest.raises(InvalidInput, match="unencrypted"):
        render(config, AgentSecrets("r" * 32, ()))
    with pytest.raises(InvalidInput, match="too short"):
        render(config, AgentSecrets("short", (generate_key(),)))


def test_secrets_never_show_in_repr_and_keys_are_serf_keygen_keys() -> None:
    secrets = AgentSecrets.generate()
    assert secrets.rpc_auth not in repr(secrets)
    assert secrets.keyring[0] not in repr(secrets)
    assert len(base64.b64decode(secrets.keyring[0], validate=True)) == 32
    assert secrets != AgentSecrets.generate()


def test_host_tags_round_trip_and_stay_compact() -> None:
    tags = HostTags(
        host_id="0190f1c2-7a4b-7c3d-9e8f-0123456789ab",
        api="[fd00::5]:7070",
        schema=4,
        region="eu-west",
        labels={"zone": "a", "odd,key": "v=1%"},
        cpus=0.5,
        memory=8 << 30,
    )
    encoded = tags.encode()
    assert encoded["labels"] == "odd%2Ckey=v%3D1%25,zone=a"
    assert encoded["cpu"] == "0.5"
    assert HostTags.decode(encoded) == tags
    assert encoded_size(encoded) < 200


def test_too_many_labels_are_refused_with_the_size() -> None:
    tags = HostTags("h", "10.0.0.5:7070", 1, labels={f"label{i}": "x" * 20 for i in range(30)})
    with pytest.raises(InvalidInput, match=f"Serf carries at most {MAX_TAGS_BYTES}") as refused:
        tags.encode()
    assert refused.value.details["size"] > MAX_TAGS_BYTES


def test_tags_of_something_else_are_not_a_plat_host() -> None:
    with pytest.raises(InvalidInput, match="not a plat host"):
        HostTags.decode({"role": "web"})
    with pytest.raises(InvalidInput, match="not a plat host"):
        HostTags.decode({"id": "h", "api": "x", "schema": "four"})
