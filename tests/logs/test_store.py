"""The log store and its queries on a real SQLite file, checked against a brute-force model.

Lines go in through the writer thread exactly as the collector and the event mirror hand them
over; every query is compared with the same filter applied to a plain Python list.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from platd.logs import query
from platd.logs.retention import Retention, used_bytes
from platd.logs.severity import LEVELS
from platd.logs.store import APP, SYSTEM, LogStore, Origin, SystemLine
from platd.spec.errors import InvalidInput

ENV_A, ENV_B = "env-a", "env-b"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LogStore]:
    s = LogStore(tmp_path / "logs.db")
    try:
        yield s
    finally:
        s.close()


def flush(store: LogStore) -> None:
    store.call(lambda _conn: None).result(timeout=30)


@dataclass
class Model:
    seq: int
    ts: int
    env: str
    workload: str | None
    instance: str | None
    source: int
    severity: int
    message: str


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LogStore, list[Model]]]:
    """One store with random lines, shared by the read-only query tests."""
    s = LogStore(tmp_path_factory.mktemp("logs") / "logs.db")
    try:
        yield s, fill(s)
    finally:
        s.close()


def fill(store: LogStore, n: int = 3000, seed: int = 7) -> list[Model]:
    """Random app and system lines over two envs; timestamps deliberately out of seq order."""
    rng = random.Random(seed)
    workloads = {"web": ["w1", "w2"], "worker": ["k1"]}
    words = ["DEBUG", "INFO", "WARN", "ERROR", "FATAL", "plain"]
    model: list[Model] = []
    base = 1_700_000_000 * 10**9
    for i in range(n):
        env = rng.choice([ENV_A, ENV_A, ENV_B])
        ts = base + rng.randrange(0, 10**9 * 60)
        if rng.random() < 0.1:
            workload = rng.choice([None, "web"])
            instance = "w1" if workload else None
            level = rng.choice(list(LEVELS.values()))
            store.submit_system([SystemLine(ts, env, workload, instance, None, level,
                                            f"sys {i}")], {})
            model.append(Model(0, ts, env, workload, instance, SYSTEM, level, f"sys {i}"))
        else:
            workload = rng.choice(list(workloads))
            instance = rng.choice(workloads[workload])
            word = rng.choice(words)
            stream = rng.choice([1, 2])
            text = f"{word} line {i}" if word != "plain" else f"line {i}"
            store.submit_app(Origin(env, workload, instance, "rel1"), f"c-{env}-{instance}",
                             [(ts, stream, text, False)], f"cur{i}")
            from platd.logs.severity import detect

            model.append(Model(0, ts, env, workload, instance, APP, detect(text, stream), text))
    flush(store)
    for seq, m in enumerate(model, start=1):
        m.seq = seq
    return model


def resolve(store: LogStore, env: str, workload: str | None = None,
            instance: str | None = None, **rest: int | None) -> query.Filter:
    conn = store.reader()
    env_id = conn.execute("SELECT id FROM envs WHERE env_id = ?", (env,)).fetchone()[0]

    def name(kind: int, text: str | None) -> int | None:
        if text is None:
            return None
        row = conn.execute("SELECT id FROM names WHERE env = ? AND kind = ? AND name = ?",
                           (env_id, kind, text)).fetchone()
        return int(row[0]) if row else -1

    return query.Filter(env=env_id, workload=name(1, workload), instance=name(2, instance),
                        **rest)  # type: ignore[arg-type]


def matches(m: Model, env: str, workload: str | None, instance: str | None,
            source: int | None, min_severity: int | None, since: int | None,
            until: int | None) -> bool:
    return (m.env == env and (workload is None or m.workload == workload)
            and (instance is None or m.instance == instance)
            and (source is None or m.source == source)
            and (min_severity is None or m.severity >= min_severity)
            and (since is None or m.ts >= since) and (until is None or m.ts < until))


FILTERS = [
    {},
    {"workload": "web"},
    {"workload": "worker", "source": APP},
    {"instance": "w1"},
    {"instance": "w1", "source": SYSTEM},
    {"workload": "web", "min_severity": LEVELS["error"]},
    {"source": SYSTEM},
    {"source": APP},
    {"min_severity": LEVELS["warn"]},
    {"min_severity": LEVELS["fatal"], "source": APP},
    {"since": 1_700_000_000 * 10**9 + 20 * 10**9, "until": 1_700_000_000 * 10**9 + 25 * 10**9},
    {"min_severity": LEVELS["error"], "since": 1_700_000_000 * 10**9 + 30 * 10**9},
    {"workload": "nope"},
]


@pytest.mark.parametrize("spec", FILTERS, ids=lambda s: ",".join(sorted(s)) or "none")
def test_history_pages_match_the_model(filled: tuple[LogStore, list[Model]],
                                       spec: dict[str, object]) -> None:
    store, model = filled
    names = {k: spec.get(k) for k in ("workload", "instance")}
    rest = {k: v for k, v in spec.items() if k not in names}
    f = resolve(store, ENV_A, **names, **rest)  # type: ignore[arg-type]
    expected = sorted(
        (m for m in model if matches(m, ENV_A, names["workload"], names["instance"],  # type: ignore[arg-type]
                                     rest.get("source"), rest.get("min_severity"),  # type: ignore[arg-type]
                                     rest.get("since"), rest.get("until"))),  # type: ignore[arg-type]
        key=lambda m: (m.ts, m.seq),
    )
    conn = store.reader()
    got: list[query.Row] = []
    before = None
    while True:  # page backwards to the start, 40 at a time
        page, more = query.history(conn, f, 40, before)
        assert [r[1] for r in page] == sorted(r[1] for r in page), "each page is oldest first"
        got = page + got
        if not more:
            break
        before = (page[0][1], page[0][0])
    assert [r[0] for r in got] == [m.seq for m in expected]
    newest, more = query.history(conn, f, 25)
    assert [r[0] for r in newest] == [m.seq for m in expected[-25:]]
    assert more == (len(expected) > 25)


@pytest.mark.parametrize("spec", FILTERS[:10], ids=lambda s: ",".join(sorted(s)) or "none")
def test_follow_steps_match_the_model(filled: tuple[LogStore, list[Model]],
                                      spec: dict[str, object]) -> None:
    store, model = filled
    names = {k: spec.get(k) for k in ("workload", "instance")}
    rest = {k: v for k, v in spec.items() if k not in names}
    f = resolve(store, ENV_A, **names, **rest)  # type: ignore[arg-type]
    expected = [m.seq for m in model
                if m.seq > 1000 and matches(m, ENV_A, names["workload"], names["instance"],  # type: ignore[arg-type]
                                            rest.get("source"), rest.get("min_severity"),  # type: ignore[arg-type]
                                            rest.get("since"), rest.get("until"))]  # type: ignore[arg-type]
    conn = store.reader()
    got: list[int] = []
    cursor = 1000
    for _ in range(1000):
        rows, cursor = query.follow(conn, f, cursor, limit=30, scan=500)
        got += [r[0] for r in rows]
        if cursor == len(model):
            break
    assert got == expected
    assert cursor == len(model)


def test_a_follow_cursor_moves_past_lines_that_do_not_match(store: LogStore) -> None:
    fill(store, n=500)
    f = resolve(store, ENV_A, workload="nope")
    rows, cursor = query.follow(store.reader(), f, 0, limit=10)
    assert rows == []
    assert cursor == 500
    rows, cursor = query.follow(store.reader(), f, 10_000, limit=10)  # store replaced: start over
    assert cursor == 500


def test_cursors_and_meta_are_committed_with_the_lines(store: LogStore) -> None:
    origin = Origin(ENV_A, "web", "i1", "r1")
    store.submit_app(origin, "c1", [(1, 1, "a", False)], "json:1:10:1:1")
    store.submit_system([SystemLine(2, ENV_A, None, None, None, 20, "x")], {"events_seq": "42"})
    flush(store)
    assert store.cursor_of("c1") == "json:1:10:1:1"
    assert store.cursor_of("c2") is None
    assert store.meta("events_seq") == "42"
    assert store.forget_cursors({"c9"}).result(timeout=10) == 1
    assert store.cursor_of("c1") is None


def test_awkward_text_is_stored_as_it_came(store: LogStore) -> None:
    texts = ["nul\x00inside", "\x1b[31mred\x1b[0m", "bad \udcff byte", "x" * 300_000, "",
             "emoji 🚀 and \u202e bidi"]
    store.submit_app(Origin(ENV_A, "web", "i1", "r1"), "c1",
                     [(i, 1, t, False) for i, t in enumerate(texts)], "c")
    flush(store)
    stored = [r[0] for r in store.reader().execute("SELECT message FROM lines ORDER BY seq")]
    assert stored == [texts[0], texts[1], "bad \\xed\\xb3\\xbf byte", texts[3], "", texts[5]]


def test_seq_is_never_reused_even_after_everything_is_deleted(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs.db")
    store.submit_app(Origin(ENV_A, "w", "i", "r"), "c", [(1, 1, "a", False)] * 5, "c")
    flush(store)
    store.call(lambda conn: conn.execute("DELETE FROM lines")).result(timeout=10)
    store.close()
    store = LogStore(tmp_path / "logs.db")
    store.submit_app(Origin(ENV_A, "w", "i", "r"), "c", [(2, 1, "b", False)], "c")
    flush(store)
    assert store.reader().execute("SELECT seq FROM lines").fetchall() == [(6,)]
    assert query.top_seq(store.reader()) == 6
    store.close()


# --- retention ---------------------------------------------------------------------------------


def test_age_retention_removes_the_oldest_lines_first(tmp_path: Path) -> None:
    now = 1_800_000_000 * 10**9
    conn = sqlite3.connect(tmp_path / "logs.db", isolation_level=None)
    store = LogStore(tmp_path / "logs.db")
    origin = Origin(ENV_A, "w", "i", "r")
    old = [(now - 3600 * 10**9 + i * 10**6, 1, f"old {i}", False) for i in range(5000)]
    new = [(now - (10 - i) * 10**9, 1, f"new {i}", False) for i in range(10)]
    store.submit_app(origin, "c", old + new, "c")
    flush(store)
    store.close()
    retention = Retention(max_age=60)
    steps = 0
    while retention.step(conn, now, chunk=1000):
        steps += 1
    assert steps >= 5, "deleted in chunks, not all at once"
    left = [r[0] for r in conn.execute("SELECT message FROM lines ORDER BY seq")]
    assert left == [f"new {i}" for i in range(10)]


def test_size_retention_keeps_the_newest_lines_under_the_limit(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs.db")
    origin = Origin(ENV_A, "w", "i", "r")
    for batch in range(4):
        store.submit_app(origin, "c", [(batch * 10_000 + i, 1, f"line {batch * 10_000 + i:06d} "
                                        + "p" * 80, False) for i in range(10_000)], "c")
    flush(store)
    store.close()
    conn = sqlite3.connect(tmp_path / "logs.db", isolation_level=None)
    before = used_bytes(conn)
    limit = 1024 * 1024
    assert before > 3 * limit
    retention = Retention(max_bytes=limit)
    for _ in range(10_000):
        if not retention.step(conn, 0):
            break
    assert used_bytes(conn) <= limit
    seqs = [r[0] for r in conn.execute("SELECT seq FROM lines ORDER BY seq")]
    assert seqs, "the newest lines are kept"
    assert seqs[-1] == 40_000
    assert seqs == list(range(seqs[0], 40_001)), "only the oldest were removed"


def test_retention_runs_on_the_writer_between_batches(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs.db", Retention(max_bytes=1024 * 1024))
    origin = Origin(ENV_A, "w", "i", "r")
    for batch in range(4):
        store.submit_app(origin, "c", [(batch * 8_000 + i, 1, "q" * 100, False)
                                       for i in range(8_000)], "c")
        flush(store)
    import time

    deadline = time.monotonic() + 30
    while used_bytes(store.reader()) > 1024 * 1024 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert used_bytes(store.reader()) <= 1024 * 1024
    top = store.reader().execute("SELECT MAX(seq) FROM lines").fetchone()[0]
    assert top == 32_000
    store.close()


@pytest.mark.parametrize(
    ("age", "size", "expected"),
    [("7d", "1G", (7 * 86400.0, 1024**3)), ("0", "0", (0.0, 0)),
     (3600, 5_000_000, (3600.0, 5_000_000)), ("90m", "512M", (5400.0, 512 * 1024**2))],
)
def test_retention_settings(age: str | int, size: str | int, expected: tuple[float, int]) -> None:
    r = Retention.from_settings(age, size)
    assert (r.max_age, r.max_bytes) == expected


@pytest.mark.parametrize(
    ("age", "size", "words"),
    [("soon", "1G", "logs_max_age"), ("7d", "lots", "logs_max_bytes"), ("7d", "10K", "minimum"),
     (-5, "1G", "negative")],
)
def test_bad_retention_settings_are_refused(age: str | int, size: str, words: str) -> None:
    with pytest.raises(InvalidInput) as info:
        Retention.from_settings(age, size)
    assert words in info.value.message
