"""What the two-expert blend's choice costs a refit, against the linear blend's fit.

    python benchmarks/mixture_cost.py --data-root ../shared/data \\
        [--datasets globo synthetic:trend-0.3-no-categories ...] [--repeats 3]

Per dataset, the held-out choices a refit at the replay's cut fits its blend on (as
``benchmarks/blend_mixture.py`` collects them) are fitted again here, alternating: the
linear blend alone (``fit_blend``, the baseline) and the two-expert blend's choice
(``engine/mixture.py`` ``choose_mixture``: two halves cross-fitted both ways, then the
mixture on all of them where it is kept). Printed are the medians of ``--repeats`` wall
times and their ratio; the machine is shared, so the ratio is the figure to read.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from blend_mixture import DEFAULT_SETS, dataset, held_out_choices
from pulserec.engine.blend import fit_blend
from pulserec.engine.mixture import choose_mixture


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--datasets", nargs="+", default=list(DEFAULT_SETS))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for name in args.datasets:
        choices = held_out_choices(dataset(name, args.data_root))
        linear, mixture = [], []
        kept = 0.0
        for _ in range(args.repeats):
            start = time.perf_counter()
            weights, _ = fit_blend(choices)
            linear.append(time.perf_counter() - start)
            metrics: dict[str, float] = {}
            start = time.perf_counter()
            choose_mixture(choices, weights, metrics)
            mixture.append(time.perf_counter() - start)
            kept = metrics["mixture_kept"]
        candidates = sum(len(f) for f in choices.features)
        row = (name, len(choices), candidates, statistics.median(linear),
               statistics.median(mixture), kept)  # fmt: skip
        rows.append(row)
        print(f"{name}: {row[3]:.2f} s linear, {row[4]:.2f} s mixture", flush=True)
    print("| dataset | held-out choices | candidates | linear blend s | mixture's choice s "
          "| ratio | kept |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, n, cands, lin, mix, kept in rows:
        print(f"| {name} | {n} | {cands:,} | {lin:.2f} | {mix:.2f} | {mix / lin:.1f}× "
              f"| {'yes' if kept else 'no'} |")  # fmt: skip


if __name__ == "__main__":
    main()
