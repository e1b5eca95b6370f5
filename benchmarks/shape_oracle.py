"""How far real-time capture can go on a generated shape: the engine against the oracles.

    python benchmarks/shape_oracle.py [--shapes visits-like/trend-0.3 globo-like ...]
        [--reports DIR] [--replay] [--segments]

A generated log's events are drawn from known probabilities, so the best list anything
could make at each scored event of the replay can be computed
(:mod:`pulserec.evaluation.oracle`): ``crowd`` (the user unknown), ``frozen`` (the user's
events before the cut only: the best real-time-off list), ``bayes`` (every event of the
user before the scored one: the best real-time-on list) and ``topic`` (the event's own
topic known: a ceiling). ``bayes / frozen`` is the most real-time capture can add on the
shape; the engine's on / off is read against it, and ``on ÷ bayes`` says how much of the
attainable the engine reaches.

Shapes are the presets (``globo-like``, ``visits-like`` ...) and the variants of
visits-like (``visits-like/trend-0.3``, ``benchmarks/shape_sweep.py``). The engine's
figures come from replay reports in ``--reports``: ``<variant>.json`` as
``shape_sweep.py`` writes them, ``synthetic-<preset>.json`` as ``replay_all.py`` does;
``--replay`` replays the missing ones there first (engine without the transformer, as
those scripts). ``--segments`` adds a table per history segment.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from pulserec.config import DEFAULT_SEED
from pulserec.engine.segments import NAMES as SEGMENT_NAMES
from pulserec.evaluation.oracle import KINDS, hit_rate, oracle_places
from pulserec.evaluation.replay import plan_replay
from pulserec.evaluation.synthetic import PRESETS, SyntheticShape, generate_with_truth
from replay_all import log, replay_one, save
from shape_sweep import VARIANTS

DEFAULT_SHAPES = [
    *(f"visits-like/{v}" for v in VARIANTS),
    "globo-like",
    "shop-like",
    "ml-100k-like",
]


def shape_named(name: str) -> tuple[SyntheticShape, str, Path]:
    """The shape, the dataset name and the report file (relative) of a shape's name."""
    preset, _, variant = name.partition("/")
    if preset not in PRESETS:
        raise SystemExit(f"--shapes: unknown preset {preset!r}; expected one of {list(PRESETS)}")
    if variant:
        if preset != "visits-like" or variant not in VARIANTS:
            raise SystemExit(f"--shapes: unknown variant {name!r}; expected visits-like/<one of "
                             f"{list(VARIANTS)}>")  # fmt: skip
        return (
            replace(PRESETS[preset], **VARIANTS[variant]),
            f"visits-like {variant}",
            Path(f"{variant}.json"),
        )
    return PRESETS[preset], f"synthetic:{preset}", Path(f"synthetic-{preset}.json")


def measure(name: str, reports: Path, run_replay: bool) -> dict[str, Any]:
    shape, ds_name, report_file = shape_named(name)
    t0 = time.perf_counter()
    ds, truth = generate_with_truth(shape, seed=DEFAULT_SEED, name=ds_name)
    plan = plan_replay(ds)
    places = oracle_places(plan, truth)
    segment = np.searchsorted([1, 3, 10], plan.history, side="right")  # 0, 1-2, 3-9, 10+
    out: dict[str, Any] = {"name": name, "scored": plan.n_scored, "oracle": {}}
    for kind in KINDS:
        hits = hit_rate(places[kind])
        by_segment = {s: float(hits[segment == i].mean())
                      for i, s in enumerate(SEGMENT_NAMES) if (segment == i).any()}  # fmt: skip
        out["oracle"][kind] = {"all": float(hits.mean()), **by_segment}
    log(f"{name}: oracles in {time.perf_counter() - t0:.0f}s")
    path = reports / report_file
    if not path.exists() and run_replay:
        log(f"{name}: replaying the engine")
        save(replay_one(ds, sequential=False, max_users=None, gap=1800.0, reflect=0), path)
    if path.exists():
        rep = json.loads(path.read_text())
        if rep["scored_events"] != plan.n_scored:
            raise SystemExit(f"{path}: {rep['scored_events']} scored events, the plan has "
                             f"{plan.n_scored}: a report of another log")  # fmt: skip
        hit = {r["name"]: r["metrics"]["hit@10"] for r in rep["results"]}
        hist = rep["breakdown"]["history"]
        out["engine"] = {
            run: {"all": hit[run], **{s: hist[s][run]["hit@10"] for s in hist}}
            for run in ("realtime-on", "realtime-off")
        }
    return out


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b > 0 else "n/a"


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| shape | scored | crowd | frozen | bayes | topic | bayes / frozen "
        "| bayes / frozen, 1-2 | engine on | off | on / off | on ÷ bayes | off ÷ frozen |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        o = r["oracle"]
        cells = [r["name"], f"{r['scored']:,}", *(f"{o[k]['all']:.4f}" for k in KINDS),
                 _ratio(o["bayes"]["all"], o["frozen"]["all"]),
                 _ratio(o["bayes"].get("1-2", 0.0), o["frozen"].get("1-2", 0.0))]  # fmt: skip
        e = r.get("engine")
        if e:
            on, off = e["realtime-on"]["all"], e["realtime-off"]["all"]
            cells += [f"{on:.4f}", f"{off:.4f}", _ratio(on, off),
                      _ratio(on, o["bayes"]["all"]), _ratio(off, o["frozen"]["all"])]  # fmt: skip
        else:
            cells += ["", "", "", "", ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def segment_table(rows: list[dict[str, Any]]) -> str:
    """Per history segment: the engine's on against bayes, off against frozen."""
    head = " | ".join(f"{s}: on / bayes | {s}: off / frozen" for s in SEGMENT_NAMES)
    lines = [f"| shape | {head} |", "|---|" + "---:|" * (2 * len(SEGMENT_NAMES))]
    for r in rows:
        e, o = r.get("engine"), r["oracle"]
        if not e:
            continue
        cells = [r["name"]]
        for s in SEGMENT_NAMES:
            if s not in o["bayes"] or s not in e["realtime-on"]:
                cells += ["n/a", "n/a"]
                continue
            cells += [f"{e['realtime-on'][s]:.3f} / {o['bayes'][s]:.3f}",
                      f"{e['realtime-off'][s]:.3f} / {o['frozen'][s]:.3f}"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", nargs="*", default=DEFAULT_SHAPES)
    parser.add_argument("--reports", type=Path, default=Path("results/shape-sweep"))
    parser.add_argument("--replay", action="store_true", help="Replay shapes without a report.")
    parser.add_argument("--segments", action="store_true", help="A table per history segment.")
    args = parser.parse_args()
    t0 = time.perf_counter()
    rows = [measure(name, args.reports, args.replay) for name in args.shapes]
    print(table(rows))
    if args.segments:
        print()
        print(segment_table(rows))
    log(f"{time.perf_counter() - t0:.0f}s in all")


if __name__ == "__main__":
    main()
