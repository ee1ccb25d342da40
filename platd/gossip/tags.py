"""What a host tells every peer about itself through Serf tags, in a few compact strings.

Serf gossips every member's tags with each alive message and refuses more than 512 bytes of
them (memberlist's ``MetaMaxSize``, counted msgpack-encoded), so the keys are short and the
values plain: ``id``, ``api``, ``schema``, ``region``, ``labels`` (``k=v,k=v``, sorted, with
``,``, ``=`` and ``%`` percent-escaped), ``cpu`` (cores) and ``mem`` (bytes). Anything larger
(the host's full description) belongs in replicated rows, not in tags.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import quote, unquote

import msgpack

from platd.spec.errors import InvalidInput

__all__ = ["MAX_TAGS_BYTES", "HostTags", "encoded_size"]

MAX_TAGS_BYTES = 512  # memberlist.MetaMaxSize
_SAFE = "-._~:/@+!*'()[]$;"


def encoded_size(tags: Mapping[str, str]) -> int:
    """Bytes Serf needs for these tags: one magic byte and the msgpack map."""
    return 1 + len(cast(bytes, msgpack.packb(dict(tags), use_bin_type=True)))


@dataclass(frozen=True)
class HostTags:
    host_id: str
    api: str  # where peers reach this host's peer API, "10.0.0.5:7070" or "[fd00::5]:7070"
    schema: int  # the state database's schema version: peers refuse rows from a newer one
    region: str = ""
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    cpus: float = 0.0
    memory: int = 0  # bytes

    def encode(self) -> dict[str, str]:
        tags = {"id": self.host_id, "api": self.api, "schema": str(self.schema)}
        if self.region:
            tags["region"] = self.region
        if self.labels:
            tags["labels"] = ",".join(
                f"{quote(k, safe=_SAFE)}={quote(v, safe=_SAFE)}"
                for k, v in sorted(self.labels.items())
            )
        if self.cpus:
            tags["cpu"] = f"{self.cpus:g}"
        if self.memory:
            tags["mem"] = str(self.memory)
        size = encoded_size(tags)
        if size > MAX_TAGS_BYTES:
            raise InvalidInput(
                f"this host's gossip tags take {size} bytes; Serf carries at most "
                f"{MAX_TAGS_BYTES}",
                hint="use fewer or shorter labels (platd.toml [labels])",
                details={"size": size, "limit": MAX_TAGS_BYTES},
            )
        return tags

    @classmethod
    def decode(cls, tags: Mapping[str, str]) -> HostTags:
        """A peer's tags; ``InvalidInput`` when a required one is missing or unreadable (a
        peer of another version, or not a plat host at all)."""
        try:
            labels: dict[str, str] = {}
            for pair in filter(None, tags.get("labels", "").split(",")):
                key, value = pair.split("=", 1)
                labels[unquote(key)] = unquote(value)
            return cls(
                host_id=tags["id"],
                api=tags["api"],
                schema=int(tags["schema"]),
                region=tags.get("region", ""),
                labels=labels,
                cpus=float(tags.get("cpu") or 0),
                memory=int(tags.get("mem") or 0),
            )
        except (KeyError, ValueError) as exc:
            raise InvalidInput(
                f"a peer's gossip tags are not a plat host's: {exc}",
                details={"tags": dict(tags)},
            ) from None
