"""Config and secret versions as layers (platd/spec/layers.py): a version stores only what it
changed, reading it gives back the whole set, and chains are cut by snapshots so neither the
storage nor the walk grows without bound."""

from __future__ import annotations

import random

from platd.spec.layers import MAX_DEPTH, Flattened, Layer, flatten, next_layer, size_of, stack


def _history(steps: list[dict[str, str]]) -> tuple[list[Layer], Flattened]:
    layers: list[Layer] = []
    flat: Flattened | None = None
    for values in steps:
        layer = next_layer(flat, values)
        layers.append(layer)
        flat = stack(flat or Flattened(), layer)
    assert flat is not None
    return layers, flat


def test_a_small_change_to_a_large_set_stores_only_the_change() -> None:
    big = {f"KEY_{i}": "x" * 60_000 for i in range(15)}
    layer = next_layer(flatten([Layer(big, snapshot=True)]), big | {"GREETING": "hello"})
    assert (dict(layer.values), layer.unset, layer.snapshot) == ({"GREETING": "hello"}, (), False)


def test_removing_a_key_stores_only_its_name() -> None:
    base = flatten([Layer({"A": "1" * 1000, "B": "2" * 1000}, snapshot=True)])
    layer = next_layer(base, {"A": "1" * 1000})
    assert (dict(layer.values), layer.unset, layer.snapshot) == ({}, ("B",), False)


def test_the_first_version_is_a_snapshot() -> None:
    assert next_layer(None, {"A": "1"}).snapshot


def test_every_version_reads_back_as_the_set_it_was_written_as() -> None:
    rng = random.Random(19)
    steps: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for _ in range(200):
        current = dict(current)
        for _ in range(rng.randint(1, 3)):
            key = f"K{rng.randint(0, 12)}"
            if rng.random() < 0.3:
                current.pop(key, None)
            else:
                current[key] = "v" * rng.randint(0, 300)
        steps.append(current)
    layers, _ = _history(steps)
    for i, expected in enumerate(steps):
        start = max(j for j in range(i + 1) if layers[j].snapshot)
        assert flatten(layers[start:i + 1]).values == expected


def test_chains_are_cut_by_a_snapshot_before_they_grow_long() -> None:
    big = {f"KEY_{i}": "x" * 1000 for i in range(50)}
    steps = [big | {"COUNTER": str(n)} for n in range(200)]
    layers, flat = _history(steps)
    assert flat.depth <= MAX_DEPTH
    run = longest = 0
    for layer in layers:
        run = 0 if layer.snapshot else run + 1
        longest = max(longest, run)
    assert longest == MAX_DEPTH
    # Stored bytes: one snapshot per MAX_DEPTH small changes, not the whole set per change.
    stored = sum(size_of(layer.values) for layer in layers)
    assert stored < 200 * size_of(big) / 10


def test_layers_since_the_snapshot_never_hold_more_than_the_whole_set() -> None:
    steps = [{"A": str(n) * 100, "B": "b"} for n in range(1, 10)]
    layers, flat = _history(steps)
    assert flat.layer_bytes < size_of(flat.values)
    assert sum(layer.snapshot for layer in layers) > 1  # rewriting most of the set snapshots
