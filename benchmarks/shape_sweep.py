"""Real-time capture on variants of the visits-like shape: which knob takes its lead away.

    python benchmarks/shape_sweep.py [--variants base noise-0.5 ...] [--out-dir DIR] [--sequential]
        [--encoder hashing] [--set engine.KEY=VALUE ...]

visits-like is the shape of short visits to a wide catalog (45 % of users with one event,
a median of two, a fifth of the late events on items first seen late). Each variant
changes one or two of its knobs; each is replayed like ``benchmarks/replay_all.py``
(engine without the transformer unless ``--sequential``, real time on and off, frozen
popularity, live trending, session-kNN, the same scored events) and the table printed:
HitRate@10, the ratios the real-time targets read, and the on / off ratio per history
segment. Reports are saved as JSON under ``--out-dir``; ``--render-only`` prints the table
from them. ``--encoder`` gives the engine a text encoder (the generated items' text is
their topic's words; default none, as ``pulserec replay``), ``--set`` changes a setting.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from pulserec.config import DEFAULT_SEED, Settings
from pulserec.config_names import settings_with
from pulserec.engine.segments import NAMES as SEGMENT_NAMES
from pulserec.evaluation.synthetic import PRESETS, generate, shape_stats
from replay_all import log, replay_one, save

DAY = 86400.0

VARIANTS: dict[str, dict[str, float | bool]] = {
    "base": {},
    "noise-0.5": {"noise": 0.5},
    "drift-0.5": {"drift": 0.5},
    "trend-0.3": {"trend_strength": 0.3},
    "topics-20": {"n_topics": 20},
    "topics-2000": {"n_topics": 2000},
    "session-1.5": {"session_len": 1.5},
    "arrival-0.3": {"arrival_share": 0.3, "freshness_half_life_s": 2 * DAY},
    "fresh": {"arrival_share": 0.5, "freshness_half_life_s": DAY},
    "fresh-noise-0.5": {"arrival_share": 0.5, "freshness_half_life_s": DAY, "noise": 0.5},
    "no-categories": {"categories": False},
    "trend-0.3-no-categories": {"trend_strength": 0.3, "categories": False},
    "trend-0.3-days": {"trend_strength": 0.3, "resolution_s": 86400.0},
}
"""Knobs changed from visits-like (``pulserec.evaluation.synthetic.PRESETS``)."""

SEGMENTS = SEGMENT_NAMES[1:]
"""The history segments with events before (the first, none, has no on / off ratio)."""


def run(
    names: list[str],
    out: Path,
    max_users: int | None,
    sequential: bool,
    encoder: str = "none",
    settings: Settings | None = None,
) -> None:
    for name in names:
        shape = replace(PRESETS["visits-like"], **VARIANTS[name])
        ds = generate(shape, seed=DEFAULT_SEED, name=f"visits-like {name}")
        log(f"{name}: replaying")
        data = replay_one(
            ds, sequential=sequential, max_users=max_users, gap=1800.0, reflect=0,
            encoder=encoder, settings=settings,
        )  # fmt: skip
        data["shape_stats"] = shape_stats(ds)
        data["knobs"] = VARIANTS[name]
        save(data, out / f"{name}.json")
        log(f"{name}: done in {data['wall_seconds']:.0f}s")


def table(names: list[str], out: Path) -> str:
    lines = [
        "| variant | knobs | on | off | best trending | session-kNN | on / off "
        "| on / best trending | on / session-kNN | "
        + " | ".join(f"on / off, {s}" for s in SEGMENTS)
        + " | new-item share | top-10 share |",
        "|---|---|" + "---:|" * (10 + len(SEGMENTS) - 1),
    ]
    for name in names:
        path = out / f"{name}.json"
        if not path.exists():
            continue
        rep: dict[str, Any] = json.loads(path.read_text())
        hit = {r["name"]: r["metrics"]["hit@10"] for r in rep["results"]}
        on, off, knn = hit["realtime-on"], hit["realtime-off"], hit["session-knn"]
        trend = max(v for name, v in hit.items() if name.startswith("trending"))
        hist = rep["breakdown"]["history"]

        def ratio(a: float, b: float) -> str:
            return f"{a / b:.2f}×" if b > 0 else "n/a"

        segs = [
            ratio(hist[s]["realtime-on"]["hit@10"], hist[s]["realtime-off"]["hit@10"])
            if s in hist
            else "n/a"
            for s in SEGMENTS
        ]
        knobs = (
            ", ".join(
                f"{k}={v}" if isinstance(v, bool) else f"{k}={v:g}"
                for k, v in rep.get("knobs", {}).items()
            )
            or "—"
        )
        st = rep["shape_stats"]
        lines.append(
            f"| {name} | {knobs} | {on:.4f} | {off:.4f} | {trend:.4f} | {knn:.4f} "
            f"| {ratio(on, off)} | {ratio(on, trend)} | {ratio(on, knn)} | "
            + " | ".join(segs)
            + f" | {st['new_item_share']:.1%} | {st['top10_share']:.1%} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--out-dir", type=Path, default=Path("results/shape-sweep"))
    parser.add_argument("--max-users", type=int, default=None, help="Seeded sample of test users.")
    parser.add_argument(
        "--sequential", action="store_true", help="The engine with the transformer."
    )
    parser.add_argument("--encoder", default="none", help="Text encoder name, or none.")
    parser.add_argument(
        "--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
        help="A setting, e.g. engine.text_topics=false (repeatable).",
    )  # fmt: skip
    parser.add_argument("--render-only", action="store_true", help="Print from saved JSON.")
    args = parser.parse_args()
    t0 = time.perf_counter()
    if not args.render_only:
        settings = settings_with(args.assignments)
        run(args.variants, args.out_dir, args.max_users, args.sequential, args.encoder, settings)
    print(table(args.variants, args.out_dir))
    log(f"{time.perf_counter() - t0:.0f}s in all")


if __name__ == "__main__":
    main()
