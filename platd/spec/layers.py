"""Versions stored as layers: each config or secret version keeps only what it changed.

Storing the whole set again on every change made storage grow with the size of the set times
the number of changes (ten 24-byte changes to a large config grew ``state.db`` by ~100 MB). A
version is now a *layer*: the keys it set, the keys it removed, and the version it was made
from (``base``). A *snapshot* is a layer with no base that holds the whole set. Reading a
version applies its chain of layers from the snapshot up.

A chain is cut by a new snapshot when it is long (reads walk it) or when the layers since the
last snapshot together hold as much as the whole set (a snapshot is then no dearer than the
next layer and shortens the walk): storage stays within about twice what changed.

Pure: the store reads rows and hands them here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

MAX_DEPTH = 32  # layers above a snapshot before the next version is written whole


@dataclass(frozen=True)
class Layer:
    """One version's change: ``values`` set, ``unset`` removed; ``snapshot`` holds everything."""

    values: Mapping[str, str]
    unset: tuple[str, ...] = ()
    snapshot: bool = False


@dataclass(frozen=True)
class Flattened:
    """A version's whole set, how many layers sit above its snapshot, and their bytes."""

    values: dict[str, str] = field(default_factory=dict)
    depth: int = 0
    layer_bytes: int = 0


def size_of(values: Mapping[str, str]) -> int:
    """Bytes a set of values takes, as the limits count it: keys plus values, UTF-8."""
    return sum(len(k.encode()) + len(v.encode()) for k, v in values.items())


def flatten(chain: Iterable[Layer]) -> Flattened:
    """Apply ``chain`` (oldest first, starting with a snapshot) into the whole set."""
    flat = Flattened()
    for layer in chain:
        flat = stack(flat, layer)
    return flat


def stack(below: Flattened, layer: Layer) -> Flattened:
    """``layer`` applied on top of the whole set ``below``."""
    if layer.snapshot:
        return Flattened(dict(layer.values))
    values = {k: v for k, v in below.values.items() if k not in layer.unset} | dict(layer.values)
    return Flattened(values, below.depth + 1, below.layer_bytes + _layer_bytes(layer))


def _layer_bytes(layer: Layer) -> int:
    return size_of(layer.values) + sum(len(k.encode()) for k in layer.unset)


def next_layer(base: Flattened | None, new: Mapping[str, str]) -> Layer:
    """The layer to store for ``new`` made from ``base``: only what changed, or a snapshot."""
    if base is None:
        return Layer(dict(new), (), snapshot=True)
    old = base.values
    layer = Layer({k: v for k, v in new.items() if old.get(k) != v},
                  tuple(sorted(k for k in old if k not in new)))
    if base.depth + 1 > MAX_DEPTH or base.layer_bytes + _layer_bytes(layer) >= size_of(new):
        return Layer(dict(new), (), snapshot=True)
    return layer
