"""Plots of ``pulserec simulate`` results for docs/online.md.

    python benchmarks/online_plots.py --results /tmp/online_sim --out docs/img

Reads ``<dataset>-realtime.json`` and ``<dataset>-aa.json`` (and, when present,
``<dataset>-exploration.json``) and writes ``online-ab.png`` (CTR per variant with 95%
intervals), ``online-aa.png`` (the A/A p-values of every seed) and ``online-position.png``
(CTR by list position per variant).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

DATASETS = ("ml-100k", "ml-latest-small")


def load(results: Path, name: str) -> dict[str, Any] | None:
    path = results / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def ab(results: Path, out: Path) -> None:
    runs = [(ds, r) for ds in DATASETS if (r := load(results, f"{ds}-realtime")) is not None]
    fig, axes = plt.subplots(1, len(runs), figsize=(4.5 * len(runs), 3.4), squeeze=False)
    for ax, (ds, run) in zip(axes[0], runs, strict=True):
        variants = run["report"]["variants"]
        names = [v["name"] for v in variants]
        ctr = [v["ctr"] * 100 for v in variants]
        err = [(v["ctr"] - v["ctr_low"]) * 100 for v in variants]
        ax.bar(names, ctr, yerr=err, capsize=6, color=["tab:blue", "tab:gray"])
        c = run["report"]["comparisons"][0]
        ax.set_title(f"{ds}: {run['users']} users, {run['steps']:,} lists\n"
                     f"Δ {c['diff'] * 100:+.2f} pts [{c['ci_low'] * 100:+.2f}, "
                     f"{c['ci_high'] * 100:+.2f}], p = {c['p_value']:.1g}", fontsize=9)  # fmt: skip
        ax.set_ylabel("CTR, % (95% interval over users)")
    fig.tight_layout()
    fig.savefig(out / "online-ab.png", dpi=120)
    plt.close(fig)


def aa(results: Path, out: Path) -> None:
    runs = [(ds, r) for ds in DATASETS if (r := load(results, f"{ds}-aa")) is not None]
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for j, (ds, run) in enumerate(runs):
        p = sorted(s["p_value"] for s in run["aa_splits"])
        n_sig = sum(x < 0.05 for x in p)
        ax.plot(range(1, len(p) + 1), p, "o-", label=f"{ds}: {n_sig} of {len(p)} below 0.05",
                color=["tab:blue", "tab:orange"][j % 2])  # fmt: skip
    n = max((len(r["aa_splits"]) for _, r in runs), default=20)
    ax.plot([1, n], [1 / n, 1], "k:", lw=1, label="uniform (what a calibrated test gives)")
    ax.axhline(0.05, color="tab:red", lw=1, ls="--", label="0.05")
    ax.set_xlabel("seed, by p-value")
    ax.set_ylabel("A/A p-value")
    ax.set_title("A/A: the same lists, users split by 20 hash seeds (permutation test)",
                 fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "online-aa.png", dpi=120)
    plt.close(fig)


def position(results: Path, out: Path) -> None:
    runs = [(ds, r) for ds in DATASETS if (r := load(results, f"{ds}-realtime")) is not None]
    fig, axes = plt.subplots(1, len(runs), figsize=(4.5 * len(runs), 3.2), squeeze=False)
    for ax, (ds, run) in zip(axes[0], runs, strict=True):
        for g in run["online"]["groups"]:
            y = [x * 100 for x in g["ctr_by_position"]]
            ax.plot(range(1, len(y) + 1), y, "o-", label=g["variant"])
        ax.set_title(ds, fontsize=10)
        ax.set_xlabel("position")
        ax.set_ylabel("CTR, %")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "online-position.png", dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=Path("/tmp/online_sim"))
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    ab(args.results, args.out)
    aa(args.results, args.out)
    position(args.results, args.out)
    print(f"plots written to {args.out}")


if __name__ == "__main__":
    main()
