"""The campaign's schedules: the steps of one run (writes and faults) as a pure function of a
seed, so a failing seed names a sequence that can be replayed with ``--seed N --show``.

No I/O and no clock here: the schedule is what is reproducible; only its interleaving with
real replication is not.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

ORG_NAMES = ("acme", "globex", "initech", "hooli")  # few names: both sides pick the same ones
ENV_NAMES = ("prod", "staging", "dev")
MAX_SKEW_MS = 5_000
WRITES = ("org_create", "org_rename", "org_delete", "env_create", "env_delete", "deploy",
          "rollback", "scale", "event")


@dataclass(frozen=True)
class Step:
    kind: str
    host: int = -1
    args: tuple[Any, ...] = ()
    pause_ms: int = 0  # after the step: lets replication interleave with the next one

    def __str__(self) -> str:
        where = f" h{self.host}" if self.host >= 0 else ""
        return f"{self.kind}{where} {' '.join(map(str, self.args))}".rstrip()


@dataclass(frozen=True)
class Schedule:
    seed: int
    hosts: int
    skews_ms: tuple[int, ...]
    page: int
    interval: float
    steps: tuple[Step, ...]


def make_schedule(seed: int, steps: int) -> Schedule:
    """The steps of one run, from the seed alone. Writes land only on hosts that are up."""
    rng = random.Random(seed)
    n = rng.randint(3, 5)
    skews = tuple(rng.randint(-MAX_SKEW_MS, MAX_SKEW_MS) for _ in range(n))
    crashed: set[int] = set()
    agent_down: set[int] = set()
    out: list[Step] = []
    for _ in range(steps):
        roll = rng.random()
        up = [h for h in range(n) if h not in crashed]
        pause = rng.choice((0, 0, 5, 10, 20, 40))
        if roll < 0.10:
            hosts = list(range(n))
            rng.shuffle(hosts)
            cut = rng.randint(1, n - 1)
            groups = (tuple(sorted(hosts[:cut])), tuple(sorted(hosts[cut:])))
            out.append(Step("partition", args=groups, pause_ms=pause))
        elif roll < 0.16:
            out.append(Step("heal", pause_ms=pause))
        elif roll < 0.20 and len(up) > 1:
            victim = rng.choice(up)
            crashed.add(victim)
            agent_down.discard(victim)
            out.append(Step("crash", victim, pause_ms=pause))
        elif roll < 0.24 and crashed:
            back = rng.choice(sorted(crashed))
            crashed.discard(back)
            out.append(Step("restart", back, pause_ms=pause))
        elif roll < 0.27 and [h for h in up if h not in agent_down]:
            victim = rng.choice([h for h in up if h not in agent_down])
            agent_down.add(victim)
            out.append(Step("agent_kill", victim, pause_ms=pause))
        elif roll < 0.30 and agent_down:
            back = rng.choice(sorted(agent_down))
            agent_down.discard(back)
            out.append(Step("agent_restart", back, pause_ms=pause))
        elif roll < 0.33:
            out.append(Step("clock_jump", rng.randrange(n),
                            (rng.randint(-MAX_SKEW_MS, MAX_SKEW_MS),), pause_ms=pause))
        elif roll < 0.35:
            out.append(Step("hints", args=(rng.random() < 0.5,), pause_ms=pause))
        elif roll < 0.37:
            out.append(Step("flaky", args=(rng.choice((0.0, 0.0, 0.1, 0.3)),), pause_ms=pause))
        else:
            out.append(_write(rng, rng.choice(up), pause))
    return Schedule(seed, n, skews, rng.choice((3, 7, 50, 1000)), rng.choice((0.1, 0.2)),
                    tuple(out))


def _write(rng: random.Random, host: int, pause: int) -> Step:
    kind = rng.choices(WRITES, weights=(4, 2, 2, 3, 1, 5, 2, 3, 2))[0]
    if kind in ("org_create", "org_delete"):
        args: tuple[Any, ...] = (rng.choice(ORG_NAMES),)
    elif kind == "org_rename":
        args = tuple(rng.sample(ORG_NAMES, 2))
    elif kind in ("env_create", "env_delete"):
        args = (rng.choice(ENV_NAMES),)
    elif kind == "deploy":
        args = (rng.choice(ENV_NAMES), rng.getrandbits(64))
    elif kind == "rollback":
        args = (rng.choice(ENV_NAMES), rng.randint(1, 4))
    elif kind == "scale":
        args = (rng.choice(ENV_NAMES), rng.randint(0, 5))
    else:
        args = (rng.choice(ENV_NAMES), rng.getrandbits(32))
    return Step(kind, host, args, pause)
