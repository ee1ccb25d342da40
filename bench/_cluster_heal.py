"""Section 2 of bench/cluster.py: hosts cut in two halves, writes on both sides, then the heal;
how long until every host's state digest is equal again, and until every host's API lists every
write. The reference is Serf's own re-merge: every host lists every host alive again.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from _cluster_hosts import Api

from tests.cluster.netns import Lab
from tests.cluster.platd_cluster import Host, alive_count, wait_for


class Digests:
    """Each host's state digest, computed again only when its database files changed.

    Hashing every host's rows in this process on every poll took the GIL from the thread that
    watches Serf's merge and stole CPU from the very daemons being measured. A commit changes
    the WAL file (a checkpoint the main file), so their size and mtime say when to look again.
    """

    def __init__(self) -> None:
        self._seen: dict[Path, tuple[tuple[int, int], ...]] = {}
        self._digest: dict[Path, str] = {}

    def of(self, host: Host) -> str:
        files = [host.data / "state.db", host.data / "state.db-wal"]
        stamp = tuple((st.st_mtime_ns, st.st_size) for st in map(_stat, files))
        # File times tick in jiffies: a stamp this fresh may hide a second commit after it.
        fresh = max(m for m, _ in stamp) > time.time_ns() - 100_000_000
        if fresh or self._seen.get(host.data) != stamp or host.data not in self._digest:
            self._digest[host.data] = host.digest()
            self._seen[host.data] = stamp
        return self._digest[host.data]


def _stat(path: Path) -> os.stat_result:
    try:
        return path.stat()
    except FileNotFoundError:
        return os.stat_result((0,) * 10)


def digests_equal(hosts: list[Host], pool: ThreadPoolExecutor,
                  digests: Digests | None = None) -> bool:
    of = digests.of if digests is not None else (lambda h: h.digest())
    return len(set(pool.map(of, hosts))) == 1


@dataclass
class Heal:
    equal: float | None  # heal -> every digest equal
    alive: float  # heal -> every host lists every host alive (Serf's merge, through platd)
    listed: float | None = None  # heal -> every host's API lists every write of both sides


def heal_once(lab: Lab, hosts: list[Host], run: int, writes_per_side: int,
              say: Callable[[str], None]) -> Heal:
    half = len(hosts) // 2
    left, right = hosts[:half], hosts[half:]
    lab.partition([h.node for h in left], [h.node for h in right])
    say(f"heal {run + 1}: cut {len(left)}|{len(right)}, waiting for both sides to see it...")
    wait_for(lambda: all(alive_count(h) == len(left) for h in left)
             and all(alive_count(h) == len(right) for h in right), 90, "both sides see the cut")
    names = []
    for i in range(writes_per_side):
        for side, tag in ((left, "l"), (right, "r")):
            name = f"heal-{run}-{tag}{i}"
            side[i % len(side)].ok("POST", "/v1/tree/orgs", {"path": name})
            names.append(name)
    apis = [Api(h) for h in hosts]
    wanted = set(names)
    listing: set[int] = set()  # hosts whose API lists them all (orgs are not deleted here)

    def lists_all(index: int) -> bool:
        if index not in listing and wanted <= apis[index].org_names():
            listing.add(index)
        return index in listing

    with ThreadPoolExecutor(len(hosts)) as pool:
        start = time.monotonic()
        lab.heal()
        alive_at: list[float] = []

        def alive_watch() -> None:
            wait_for(lambda: all(alive_count(h) == len(hosts) for h in hosts), 60, "healed")
            alive_at.append(time.monotonic() - start)

        watcher = threading.Thread(target=alive_watch)
        watcher.start()
        equal: float | None = None
        listed: float | None = None
        digests = Digests()
        while time.monotonic() - start < 60 and (equal is None or listed is None):
            # What users see (each host's API) and the whole replicated state (each host's
            # database, hashed): the writes can be listed everywhere before every row is.
            if listed is None and all(pool.map(lists_all, range(len(apis)))):
                listed = time.monotonic() - start
            if equal is None and digests_equal(hosts, pool, digests):
                equal = time.monotonic() - start
            time.sleep(0.05)
        watcher.join()
    for api in apis:
        api.close()
    return Heal(equal, alive_at[0] if alive_at else float("nan"), listed)
