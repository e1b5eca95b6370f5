"""Streaming replay of every staged dataset and of synthetic shapes; writes docs/realtime.md.

    python benchmarks/replay_all.py --data-root ../shared/data [--no-sequential] [--max-users N]

For each real dataset and each synthetic preset: the engine with real-time
updates on and off, frozen popularity, live trending (the engine's half-life
and a short one) and session-kNN, all on the same scored events (see
``pulserec.evaluation.replay``). Then a sweep over one knob of the synthetic
generator at a time (events per user, item arrival, trend strength, drift) at
a small size. Every report is saved as JSON under ``--out-dir``; the tables
between the markers of ``--docs`` and the curves in ``--img-dir`` are
rewritten from them (``--render-only`` rewrites them from the saved JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pulserec.config import DEFAULT_SEED, Settings
from pulserec.engine import Engine
from pulserec.evaluation.baselines import BaselineSettings
from pulserec.evaluation.replay import replay_methods
from pulserec.evaluation.replay_tables import label, markdown_tables
from pulserec.evaluation.synthetic import PRESETS, generate, shape_of, shape_stats
from pulserec.events import load_dataset
from pulserec.events.base import Dataset
from pulserec.text import make_encoder

BEGIN = "<!-- replay-all:begin (written by benchmarks/replay_all.py) -->"
END = "<!-- replay-all:end -->"


@dataclass(frozen=True)
class RealSet:
    """One staged dataset: its registry name, folder, and how its replay is read."""

    name: str
    folder: str
    note: str
    metric: str = "hit@10"  # what the breakdown tables show
    session_gap_s: float | None = 1800.0  # None: session-kNN on each user's latest items


REAL: tuple[RealSet, ...] = (
    RealSet("ml-100k", "ml-100k", "film ratings; long histories, a settled catalog"),
    RealSet("ml-latest-small", "ml-latest-small", "film ratings over 22 years; 9,742 films"),
    RealSet(
        "amazon-reviews", "amazon-all-beauty-5core-2018",
        "beauty reviews, 5-core; 85 items, so HitRate@10 is near 1: read MRR@10",
        metric="mrr@10",
    ),
    RealSet(
        "douban", "douban-dmr-sample",
        "Chinese film reviews of 44 users over 8 years (session-kNN on each user's latest "
        "20 items: reviews are days apart, and the 30-minute sessions scored lower)",
        session_gap_s=None,
    ),
    RealSet(
        "mind", "mind-small-sample",
        "news; each user's click history (placed before their first impression), then the "
        "impressions' clicks in time order; non-clicks are ingested, never scored",
    ),
    RealSet(
        "globo", "globo-news-clicks-day1",
        "one day of news clicks; median 2 events per user, new articles every hour",
    ),
)  # fmt: skip

SWEEP_BASE = dict(
    n_users=1000, n_items=1000, n_topics=15, duration_s=30 * 86400.0, events_median=8.0,
    events_sigma=0.8, user_span=0.3, session_len=4.0, arrival_share=0.3,
    freshness_half_life_s=7 * 86400.0, trend_strength=0.3, n_hot=10,
    trend_period_s=3 * 86400.0, drift=0.1, noise=0.1,
)  # fmt: skip
"""The sweep's shape: every point changes one of these knobs only."""

SWEEP: dict[str, tuple[float, ...]] = {
    "events_median": (2.0, 8.0, 30.0),
    "arrival_share": (0.0, 0.3, 0.8),
    "trend_strength": (0.0, 0.3, 0.6),
    "drift": (0.0, 0.1, 0.4),
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def replay_one(
    ds: Dataset,
    *,
    sequential: bool,
    max_users: int | None,
    gap: float | None,
    reflect: int,
    encoder: str = "none",
    settings: Settings | None = None,
) -> dict[str, Any]:
    """One replay of ``ds`` (real time on and off, and the baselines) as a JSON-ready dict;
    ``encoder`` names the text encoder (``none``: no text), ``settings`` the engine's
    (default: the environment's)."""
    settings = Settings() if settings is None else settings
    config = replace(settings.engine.to_engine_config(), sequential=sequential)
    text = None if encoder == "none" else make_encoder(encoder)
    t0 = time.perf_counter()
    report = replay_methods(
        ds, lambda: Engine(encoder=text, config=config), max_users=max_users,
        seed=DEFAULT_SEED, baselines=BaselineSettings(session_gap_s=gap),
        reflect_sample=reflect,
    )  # fmt: skip
    report.extra = {"encoder": encoder, "sequential": sequential}
    data = report.to_dict()
    data["wall_seconds"] = time.perf_counter() - t0
    data["_report"] = report  # dropped before saving; kept for the plot
    return data


def save(data: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({k: v for k, v in data.items() if k != "_report"}, indent=1))


def run_all(args: argparse.Namespace) -> None:
    sequential = not args.no_sequential
    wanted = set(args.datasets) if args.datasets else None
    stats: dict[str, dict[str, float]] = {}
    for spec in REAL:
        if wanted is not None and spec.name not in wanted:
            continue
        log(f"{spec.name}: loading")
        ds = load_dataset(spec.name, args.data_root / spec.folder, verbose=False)
        stats[spec.name] = shape_stats(ds)
        data = replay_one(
            ds, sequential=sequential, max_users=args.max_users, gap=spec.session_gap_s,
            reflect=args.reflect_sample,
        )  # fmt: skip
        data["_report"].plot(args.img_dir / f"replay-{spec.name}.png")
        save(data, args.out_dir / f"{spec.name}.json")
        log(f"{spec.name}: done in {data['wall_seconds']:.0f}s")
    for preset in PRESETS:
        if wanted is not None and f"synthetic:{preset}" not in wanted:
            continue
        ds = generate(PRESETS[preset], seed=DEFAULT_SEED, name=f"synthetic:{preset}")
        stats[f"synthetic:{preset}"] = shape_stats(ds)
        log(f"synthetic:{preset}: replaying")
        data = replay_one(
            ds, sequential=sequential, max_users=args.max_users, gap=1800.0,
            reflect=args.reflect_sample,
        )  # fmt: skip
        data["_report"].plot(args.img_dir / f"replay-synthetic-{preset}.png")
        save(data, args.out_dir / f"synthetic-{preset}.json")
    (args.out_dir / "shape_stats.json").write_text(json.dumps(stats, indent=1))
    if args.sweep:
        run_sweep(args, sequential)


def sweep_points() -> list[tuple[str, float]]:
    return [(knob, value) for knob, values in SWEEP.items() for value in values]


def run_sweep(args: argparse.Namespace, sequential: bool) -> None:
    done: dict[str, dict[str, Any]] = {}
    for knob, value in sweep_points():
        shape = shape_of(None, **{**SWEEP_BASE, knob: value})
        key = repr(shape)
        if key not in done:
            log(f"sweep {knob}={value}")
            ds = generate(shape, seed=DEFAULT_SEED, name=f"sweep {knob}={value:g}")
            data = replay_one(
                ds, sequential=sequential, max_users=args.sweep_max_users, gap=1800.0, reflect=0
            )
            data["shape_stats"] = shape_stats(ds)
            done[key] = data
        out = {k: v for k, v in done[key].items() if k != "_report"}
        save(out, args.out_dir / "sweep" / f"{knob}-{value:g}.json")


def render(args: argparse.Namespace) -> str:
    """The generated block of docs/realtime.md, from the saved reports."""
    out = args.out_dir
    first = next((json.loads(p.read_text()) for p in sorted(out.glob("*.json"))
                  if p.name != "shape_stats.json"), None)  # fmt: skip
    seq = "with" if first and first.get("sequential") else "without"
    users = f", `--max-users {first['max_users']}`" if first and first.get("max_users") else ""
    lines = [
        BEGIN,
        "",
        f"One run of `python benchmarks/replay_all.py` ({seq} the transformer{users}); K=10; "
        "**bold**: the best of the column (of the row in the breakdowns).",
        "",
    ]
    for spec in REAL:
        path = out / f"{spec.name}.json"
        if not path.exists():
            continue
        report = json.loads(path.read_text())
        lines += _dataset_block(spec.name, spec.note, report, spec.metric)
    stats_path = out / "shape_stats.json"
    if stats_path.exists():
        lines += _calibration(json.loads(stats_path.read_text()))
    for preset in PRESETS:
        path = out / f"synthetic-{preset}.json"
        if path.exists():
            note = "generated (see the calibration above)"
            lines += _dataset_block(f"synthetic:{preset}", note, json.loads(path.read_text()))
    lines += _sweep_table(out / "sweep")
    lines += [END]
    return "\n".join(lines) + "\n"


def _dataset_block(
    name: str, note: str, report: dict[str, Any], metric: str = "hit@10"
) -> list[str]:
    img = f"img/replay-{name.replace(':', '-')}.png"
    return [
        f"#### {name}",
        "",
        f"{note}. {report['scored_events']:,} scored events of {report['users']:,} users; "
        f"session-kNN sessions: "
        + ("30-minute gaps" if report["baselines"]["session_gap_s"] else "each user's latest items")
        + f"; {report.get('wall_seconds', 0):.0f} s in all.",
        "",
        markdown_tables(report, metric=metric).rstrip(),
        "",
        f"![HitRate@10 per time slice, {name}]({img})",
        "",
    ]


def _calibration(stats: dict[str, dict[str, float]]) -> list[str]:
    cols = [
        ("median_events_per_user", "median events / user", "{:.0f}"),
        ("single_event_user_share", "single-event users", "{:.1%}"),
        ("items_per_user", "items / user (mean)", "{:.1f}"),
        ("new_item_share", "test events on items new since the cut", "{:.1%}"),
        ("top10_share", "test events on the 10 hottest test items", "{:.1%}"),
        ("users", "users", "{:,.0f}"),
        ("items", "items", "{:,.0f}"),
    ]
    lines = [
        "#### Synthetic shapes against the data they imitate",
        "",
        "| dataset | " + " | ".join(c[1] for c in cols) + " |",
        "|---|" + "---:|" * len(cols),
    ]
    for name, s in stats.items():
        lines.append(f"| {name} | " + " | ".join(f.format(s[key]) for key, _, f in cols) + " |")
    return [*lines, ""]


def _sweep_table(folder: Path) -> list[str]:
    rows = []
    for knob, value in sweep_points():
        path = folder / f"{knob}-{value:g}.json"
        if path.exists():
            rows.append((knob, value, json.loads(path.read_text())))
    if not rows:
        return []
    names = [r["name"] for r in rows[0][2]["results"]]
    base = ", ".join(f"{k}={v:g}" for k, v in SWEEP_BASE.items() if k in SWEEP)
    lines = [
        "#### One knob at a time (synthetic, HitRate@10)",
        "",
        f"Base shape: 1,000 users, 1,000 items, 30 days, {base} (the middle value of each "
        "knob); each row changes one knob.",
        "",
        "| knob | value | "
        + " | ".join(label(n) for n in names)
        + " | on / trending | on / session-kNN | new-item share | top-10 share |",
        "|---|---:|" + "---:|" * (len(names) + 4),
    ]
    for knob, value, rep in rows:
        hits = [r["metrics"]["hit@10"] for r in rep["results"]]
        top = max(hits)
        cells = [f"**{h:.4f}**" if h == top else f"{h:.4f}" for h in hits]
        ratios = rep.get("ratios", {})

        def ratio(pair: str, rs: dict[str, Any] = ratios) -> str:
            v = rs.get(pair, {}).get("hit@10")
            return "n/a" if v is None else f"{v:.2f}×"

        st = rep.get("shape_stats", {})
        lines.append(
            f"| {knob} | {value:g} | "
            + " | ".join(cells)
            + f" | {ratio('on/trending')} | {ratio('on/session-knn')}"
            + f" | {st.get('new_item_share', 0):.1%} | {st.get('top10_share', 0):.1%} |"
        )
    return [*lines, ""]


def write_docs(doc: Path, block: str) -> None:
    text = doc.read_text()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        text = head + block + "\n" + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block
    doc.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument(
        "--datasets", nargs="*", help="Only these (e.g. ml-100k synthetic:globo-like)."
    )
    parser.add_argument(
        "--no-sequential", action="store_true", help="Engine without the transformer."
    )
    parser.add_argument("--max-users", type=int, default=None, help="Seeded sample of test users.")
    parser.add_argument("--reflect-sample", type=int, default=300)
    parser.add_argument("--sweep", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--sweep-max-users", type=int, default=None)
    parser.add_argument("--out-dir", type=Path, default=Path("results/replay"))
    parser.add_argument("--docs", type=Path, default=Path("docs/realtime.md"))
    parser.add_argument("--img-dir", type=Path, default=Path("docs/img"))
    parser.add_argument(
        "--render-only", action="store_true", help="Rewrite the docs from saved JSON."
    )
    args = parser.parse_args()
    if not args.render_only:
        run_all(args)
    write_docs(args.docs, render(args))
    log(f"wrote {args.docs}")


if __name__ == "__main__":
    main()
