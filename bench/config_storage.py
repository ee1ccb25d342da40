"""What a config change costs on disk and in time: layered versions against whole copies.

Issue #19: every config change stored the whole set again, so ten 24-byte changes to a large
config grew state.db by ~100 MB. Versions are now layers (platd/spec/layers.py). This measures,
in one run on this machine, a config of KEYS keys of VALUE bytes changed CHANGES times by one
small key, stored both ways: the reference stores every version whole (the old way, by making
every layer a snapshot), the other as layers. It prints bytes stored per change (the rows'
payload and state.db's growth after a checkpoint) and the median time of a change and of
reading the current config with an empty cache (the walk down a chain).

    .venv/bin/python bench/config_storage.py [--quick] [--keys N] [--value BYTES] [--changes N]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path
from unittest import mock

from _common import median_of, parse_args, print_grid

from platd.services import config, tenancy, tokens
from platd.spec.layers import Layer
from platd.store import versions
from platd.store.db import Store, migrate
from tests.daemon_support import service_context

TARGET = "o/p/a/e"


def run(whole: bool, keys: int, value: int, changes: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="plat-bench-config-") as tmp:
        path = Path(tmp) / "state.db"
        migrate(path)
        store = Store(path, "bench-host")
        ctx = service_context(store)
        admin = tokens.principal_for(ctx, tokens.create_admin_token(store, ctx.clock))
        for kind, p in (("org", "o"), ("project", "o/p"), ("app", "o/p/a"), ("env", TARGET)):
            tenancy.create(ctx, admin, kind, p)
        config.change_config(ctx, admin, TARGET, {f"K{i}": "v" * value for i in range(keys)}, [])
        size_before, payload_before = _file_size(path), _payload(path)
        times, reads = [], []
        patch = (mock.patch.object(config, "next_layer",
                                   lambda _base, new: Layer(dict(new), snapshot=True))
                 if whole else mock.patch.object(config, "next_layer", config.next_layer))
        with patch:
            for n in range(changes):
                started = time.perf_counter()
                config.change_config(ctx, admin, TARGET, {"COUNTER": f"{n:024d}"}, [])
                times.append(time.perf_counter() - started)
                versions._config_cache.clear()
                started = time.perf_counter()
                config.list_config(ctx, admin, TARGET)
                reads.append(time.perf_counter() - started)
        store.close()
        return {
            "payload": (_payload(path) - payload_before) / changes,
            "file": (_file_size(path) - size_before) / changes,
            "change": median_of(times),
            "read": median_of(reads),
        }


def _payload(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT COALESCE(SUM(LENGTH(values_json) + "
                                "LENGTH(unset_json)), 0) FROM config_versions").fetchone()[0])


def _file_size(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=500)
    parser.add_argument("--value", type=int, default=1900)
    parser.add_argument("--changes", type=int, default=100)
    args = parse_args(parser, {"keys": 20, "value": 500, "changes": 5})
    ref = run(True, args.keys, args.value, args.changes)
    new = run(False, args.keys, args.value, args.changes)
    total = args.keys * (args.value + 4)
    print(f"config of {args.keys} keys x {args.value} B (~{total // 1024} KiB), "
          f"{args.changes} changes of one 24-byte value")

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.3f}x" if b else "-"

    print_grid("bytes stored per change", ["what", "whole copies (ref)", "layers", "ratio"], [
        [what, f"{ref[key]:,.0f}", f"{new[key]:,.0f}", ratio(new[key], ref[key])]
        for what, key in (("version rows' payload", "payload"), ("state.db growth", "file"))
    ])
    print_grid("median time", ["what", "whole copies (ref) ms", "layers ms", "ratio"], [
        [what, f"{ref[key] * 1000:.2f}", f"{new[key] * 1000:.2f}", ratio(new[key], ref[key])]
        for what, key in (("one config change", "change"),
                          ("read the current config, cache empty", "read"))
    ])


if __name__ == "__main__":
    main()
