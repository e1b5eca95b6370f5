"""Where the engine hits and misses on a generated log, by what drew each event.

    python benchmarks/event_kinds.py --variant trend-0.3 [--set engine.KEY=VALUE ...]

A generated log knows what drew each event (:mod:`pulserec.evaluation.synthetic`): the
hot set of the moment, the user's topic, or noise (any item). The variant of visits-like
(``benchmarks/shape_sweep.py``'s names) is replayed through the engine with real time on
and off (no transformer, as ``pulserec replay``'s default), and HitRate@10 is printed per
kind, per item age (seen before the cut or new since) and per history segment, with the
events of each cell: which events real time wins and loses, and which nothing reaches.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from pulserec.config import DEFAULT_SEED
from pulserec.config_names import settings_with
from pulserec.engine import Engine
from pulserec.engine.segments import NAMES, segment_at
from pulserec.evaluation.replay import plan_replay, replay_engine
from pulserec.evaluation.synthetic import PRESETS, Truth, generate_with_truth
from pulserec.types import Event
from shape_sweep import VARIANTS

KIND_NAMES = ("hot", "topic", "noise")


def kinds(test: Sequence[Event], scored: np.ndarray, truth: Truth) -> np.ndarray:
    """0 (the hot set), 1 (the user's topic) or 2 (anywhere) for each scored event."""
    out = []
    for step, event in enumerate(test):
        if not scored[step]:
            continue
        item = int(event.item_id[1:])
        if item in truth.hot[truth.window(event.timestamp)]:
            out.append(0)
        elif truth.topic[item] == truth.event_topic[(event.user_id, event.item_id)]:
            out.append(1)
        else:
            out.append(2)
    return np.array(out, dtype=np.int64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variant", default="trend-0.3", choices=sorted(VARIANTS))
    ap.add_argument("--set", dest="assignments", action="append", default=[],
                    metavar="KEY=VALUE")  # fmt: skip
    args = ap.parse_args()
    shape = replace(PRESETS["visits-like"], **VARIANTS[args.variant])
    ds, truth = generate_with_truth(shape, seed=DEFAULT_SEED, name=args.variant)
    plan = plan_replay(ds, seed=DEFAULT_SEED)
    config = replace(settings_with(args.assignments).engine.to_engine_config(), sequential=False)
    runs = {
        mode: replay_engine(plan, lambda: Engine(config=config), realtime=mode == "on")
        for mode in ("on", "off")
    }
    kind = kinds(plan.test, plan.scored, truth)
    segment = np.array([segment_at(int(h)) for h in plan.history])
    print(f"{args.variant}: {len(kind):,} scored events; HitRate@10 on / off (events)\n")
    header = [f"{k}, {'new' if new else 'seen'}" for new in (False, True) for k in KIND_NAMES]
    print("| history | " + " | ".join(header) + " |")
    print("|---|" + "---:|" * len(header))
    for s, name in enumerate(NAMES):
        cells = []
        for new in (False, True):
            for k in range(len(KIND_NAMES)):
                m = (segment == s) & (plan.new_item == new) & (kind == k)
                if not m.any():
                    cells.append("–")
                    continue
                on, off = ((runs[r].ranks[m] > 0).mean() for r in ("on", "off"))
                cells.append(f"{on:.3f} / {off:.3f} ({m.sum():,})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    # the events on new items of the user's topic: could anything have counted them?
    created = {item.item_id: item.created_at for item in plan.items}
    taken: dict[str, int] = {}
    first, fresh, j = [], [], 0
    for step, event in enumerate(plan.test):
        if plan.scored[step]:
            if plan.new_item[j] and kind[j] == 1:
                first.append(taken.get(event.item_id, 0) == 0)
                at = created[event.item_id]
                fresh.append(at is not None and event.timestamp - at <= 7 * 86400.0)
            j += 1
        if plan.test_positive[step]:
            taken[event.item_id] = taken.get(event.item_id, 0) + 1
    print(
        f"\nNew items of the user's topic ({len(first):,} events): {np.mean(first):.0%} the "
        f"item's first take since the cut, {np.mean(fresh):.0%} published in the week before."
    )


if __name__ == "__main__":
    main()
