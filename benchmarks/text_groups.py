"""How well text groups stand for categories: purity against them, and how often users stay.

    python benchmarks/text_groups.py [--data-root ../shared/data] [--encoders use-m3 hashing]

For each catalog the items' text is embedded by each encoder and grouped as the engine
groups the items without a category (``engine.texttopics.fit_text_topics``, the square
root of their number of groups); the catalog's own first categories are the reference.
Printed per catalog and grouping (the categories themselves first):

- **purity**: the share of items in a group whose most common category is theirs, and
  the same for the groups' labels shuffled over the items (same sizes, at random);
- **lift**: how often a user's next positive item is in the same group as their previous
  one, divided by how often two events drawn at random share a group (the sum of the
  groups' squared shares of events).

Catalogs: the first 1,000 MIND news (titles and abstracts), ml-latest-small (its text:
title, a line of genres and users' tags) and the generated short-visits shape with its
hot set (``trend-0.3``: topic words). The categories are taken off the items before their
text is embedded, as they are for the replays without categories in docs/realtime.md.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from pulserec.catalog.catalog import Catalog
from pulserec.config import DEFAULT_SEED
from pulserec.engine.items import item_text
from pulserec.engine.texttopics import fit_text_topics
from pulserec.evaluation.synthetic import PRESETS, generate
from pulserec.events import load_dataset
from pulserec.text import make_encoder
from pulserec.types import Item


def purity(groups: np.ndarray, truth: np.ndarray) -> float:
    """Share of items whose group's most common reference label is theirs."""
    total = sum(int(np.bincount(truth[groups == g]).max()) for g in np.unique(groups))
    return total / len(truth)


def lift(events: pd.DataFrame, group_of: dict[str, int]) -> float:
    """P(next positive item in the previous one's group) over P(two random events share one)."""
    ev = events.sort_values(["user_id", "timestamp"], kind="stable")
    g = ev["item_id"].map(group_of).to_numpy(dtype=float)
    u = ev["user_id"].to_numpy()
    known = ~np.isnan(g)
    pairs = (u[1:] == u[:-1]) & known[1:] & known[:-1]
    stay = float((g[1:][pairs] == g[:-1][pairs]).mean())
    _, counts = np.unique(g[known], return_counts=True)
    share = counts / counts.sum()
    return stay / float((share**2).sum())


def catalogs(root: Path) -> list[tuple[str, list[Item], pd.DataFrame]]:
    """(name, items with their categories, events) of each catalog measured."""
    mind = load_dataset("mind", root / "mind-small-sample", verbose=False)
    news = [it for it in Catalog.from_frame(mind.items)][:1000]
    mls = load_dataset("ml-latest-small", root / "ml-latest-small", verbose=False)
    shape = replace(PRESETS["visits-like"], trend_strength=0.3)
    synthetic = generate(shape, seed=DEFAULT_SEED, name="visits-like trend-0.3")
    return [
        ("mind (1,000 news)", news, mind.events),
        ("ml-latest-small", list(Catalog.from_frame(mls.items)), mls.events),
        ("visits-like trend-0.3", list(Catalog.from_frame(synthetic.items)), synthetic.events),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--encoders", nargs="*", default=["use-m3", "hashing"])
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print("| catalog | grouping | groups | purity | purity, shuffled | lift |")
    print("|---|---|---:|---:|---:|---:|")
    for name, items, events in catalogs(args.data_root):
        items = [it for it in items if it.categories]
        ids = [it.item_id for it in items]
        _, truth = np.unique([it.categories[0] for it in items], return_inverse=True)
        rows = [("categories", truth)]
        for encoder in args.encoders:
            t0 = time.perf_counter()
            bare = [replace(it, categories=()) for it in items]  # text without the labels
            vectors = make_encoder(encoder).encode([item_text(it) for it in bare], kind="passage")
            fitted = fit_text_topics(vectors, DEFAULT_SEED)
            assert fitted is not None
            rows.append((f"text, {encoder} ({time.perf_counter() - t0:.0f} s)", fitted[1]))
        for grouping, groups in rows:
            shuffled = np.mean([purity(rng.permutation(groups), truth) for _ in range(5)])
            group_of = dict(zip(ids, groups.tolist(), strict=True))
            print(
                f"| {name} | {grouping} | {len(np.unique(groups))} | {purity(groups, truth):.2f} "
                f"| {shuffled:.2f} | {lift(events, group_of):.1f}× |"
            )


if __name__ == "__main__":
    main()
