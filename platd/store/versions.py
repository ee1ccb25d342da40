"""Reading layered config and secret versions (``platd/spec/layers.py``) out of the store.

A version row is a layer on top of its ``base_id``; its whole set is the chain from the last
snapshot up. Versions are immutable, so a config version's flattened set is kept per process
by id: the reconciler reads the current config of every env on every pass, and a new version
then costs one row read on top of its (cached) base. Secret values are never cached: they are
decrypted only for delivery and for a bundle's next version.

A chain can have a gap on a cluster member: a peer's newer layer may arrive before the base it
was made from. Such a version reads as missing (``None``) until the rest arrives, exactly like
a version that has not arrived at all.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable

from sqlmodel import Session

from platd.spec.layers import Flattened, Layer, flatten, stack
from platd.store.models import ConfigVersion, SecretVersion

_CACHE_SIZE = 4096
_config_cache: OrderedDict[str, Flattened] = OrderedDict()


def config_layer(row: ConfigVersion) -> Layer:
    return Layer(json.loads(row.values_json), tuple(json.loads(row.unset_json or "[]")),
                 snapshot=row.base_id is None)


def flat_config(session: Session, version: ConfigVersion | None) -> Flattened | None:
    """The whole set of ``version`` (empty for no version); None while a base is missing."""
    if version is None:
        return Flattened()
    chain: list[ConfigVersion] = []
    row: ConfigVersion | None = version
    below: Flattened | None = None
    while row is not None:
        cached = _config_cache.get(row.id)
        if cached is not None:
            _config_cache.move_to_end(row.id)
            below = cached
            break
        chain.append(row)
        if row.base_id is None:
            break
        row = session.get(ConfigVersion, row.base_id)
        if row is None:
            return None
    flat = below or Flattened()
    for layer_row in reversed(chain):
        flat = stack(flat, config_layer(layer_row))
        _remember(layer_row.id, flat)
    return flat


def _remember(version_id: str, flat: Flattened) -> None:
    _config_cache[version_id] = flat
    while len(_config_cache) > _CACHE_SIZE:
        _config_cache.popitem(last=False)


def config_values(session: Session, version: ConfigVersion | None) -> dict[str, str] | None:
    flat = flat_config(session, version)
    return None if flat is None else dict(flat.values)


Unseal = Callable[[bytes, str], dict[str, str]]  # SecretBox.open: (sealed, bound to) -> values


def flat_secret(
    session: Session, unseal: Unseal, version: SecretVersion
) -> Flattened | None:
    """The whole set of a secret version, decrypted; None while a base is missing."""
    chain = [version]
    while chain[-1].base_id is not None:
        base = session.get(SecretVersion, chain[-1].base_id)
        if base is None:
            return None
        chain.append(base)
    return flatten(
        Layer(unseal(row.ciphertext, row.id), (), snapshot=row.base_id is None)
        for row in reversed(chain)
    )
