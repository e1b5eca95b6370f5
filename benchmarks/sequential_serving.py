"""What serving the transformer costs per request: over the whole catalog vs candidates only.

    python benchmarks/sequential_serving.py --items 100000 --requests 300

A transformer of the default size (64 factors, 2 layers, ``max_len`` 50) over ``--items``
items, fitted for one epoch on random sequences (its cost does not depend on its accuracy),
one torch thread. In one process, alternating, for random 50-item sequences:

* ``whole catalog``: what the engine did before: the scores of every item after the
  sequence (``score_sequences(fast=True)``), standardised over the catalog, and their top 100;
* ``candidates only``: what it does now: the sequence's hidden state (``sequence_states``),
  the top 100 from the inner-product index over the item vectors, and the standardised
  scores of 300 candidates from the vectors' moments (``engine.sequential.UserScores``);
* the parts of the second alone, and the baseline: one 64-d dot product with 1,000 vectors;
* the forward pass for sequences of 2, 10 and 50 items, in numpy (``sequence_states``, what
  serving runs) and through the torch network padded to ``max_len`` (what it ran before),
  alternating in blocks.

Prints medians and 99th percentiles in ms and each median as a ratio to the baseline.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import torch

from pulserec.catalog.idmap import IdMap
from pulserec.engine.arrays import top_indices
from pulserec.engine.seqspace import SeqSpace
from pulserec.events.interactions import Interactions
from pulserec.models.sequential import SequentialTransformer, pad_last


def timed(fn: Callable[[], object], n: int) -> tuple[float, float]:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(n - 1, int(0.99 * n))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    n, users = args.items, 500
    u = np.repeat(np.arange(users), 40)
    i = rng.integers(0, n, len(u))
    matrix = sp.csr_matrix((np.ones(len(u), np.float32), (u, i)), shape=(users, n))
    inter = Interactions(matrix, IdMap(f"u{x}" for x in range(users)),
                         IdMap(f"i{x}" for x in range(n)), u, i,
                         np.arange(len(u), dtype=float))  # fmt: skip
    model = SequentialTransformer(n_epochs=1, patience=None, random_state=args.seed).fit(inter)
    t0 = time.perf_counter()
    space = SeqSpace.build(model.serving_table(), np.arange(n), exact_threshold=20_000)
    build_s = time.perf_counter() - t0
    seqs = [rng.integers(0, n, 50).tolist() for _ in range(args.requests)]
    cands = rng.integers(0, n, 300)
    at = iter(range(10**9))

    def whole() -> None:
        raw = model.score_sequences([seqs[next(at) % len(seqs)]], fast=True)[0]
        z = (raw - raw.mean(dtype=np.float64)) / max(float(raw.std()), 1e-9)
        top_indices(z, 100)

    def candidates() -> None:
        h = model.sequence_states([seqs[next(at) % len(seqs)]])[0]
        space.index.search(h[None], 100)
        mean, std = space.moments.mean_std(h)
        (space.vectors[cands] @ h - mean) / std

    h = model.sequence_states([seqs[0]])[0]
    mat = rng.standard_normal((1000, 64)).astype(np.float32)
    q = mat[0]
    rows = {"whole catalog": [], "candidates only": []}  # type: dict[str, list[tuple[float, float]]]
    for _ in range(5):  # alternating blocks: both see the same machine
        rows["whole catalog"].append(timed(whole, args.requests // 5))
        rows["candidates only"].append(timed(candidates, args.requests // 5))
    parts = {
        "  forward pass (state)": timed(lambda: model.sequence_states([seqs[1]]), args.requests),
        "  index top 100": timed(lambda: space.index.search(h[None], 100), args.requests),
        "  moments + 300 candidates": timed(
            lambda: (space.vectors[cands] @ h - space.moments.mean_std(h)[0]), args.requests
        ),
    }
    forward: dict[str, list[tuple[float, float]]] = {}
    for length in (2, 10, 50):
        seq = seqs[2][:length]
        padded = pad_last([np.array(seq)], model.max_len)
        numpy_name = f"  forward pass, {length} items, numpy"
        torch_name = f"  forward pass, {length} items, torch (before)"
        for _ in range(5):
            forward.setdefault(numpy_name, []).append(
                timed(lambda s=seq: model.sequence_states([s]), args.requests // 5))
            forward.setdefault(torch_name, []).append(
                timed(lambda p=padded: model._states_fast(p), args.requests // 5))  # fmt: skip
    for name, blocks in forward.items():
        parts[name] = (statistics.median(b[0] for b in blocks),
                       statistics.median(b[1] for b in blocks))  # fmt: skip
    base = timed(lambda: mat @ q, args.requests)[0]
    print(f"\n{n} items; index and moments built in {build_s:.1f} s; baseline {base:.4f} ms\n")
    print("| path | p50 ms | p99 ms | p50 / baseline |")
    print("|---|---:|---:|---:|")
    for name, blocks in rows.items():
        p50 = statistics.median(b[0] for b in blocks)
        p99 = statistics.median(b[1] for b in blocks)
        print(f"| {name} | {p50:.2f} | {p99:.2f} | {p50 / base:.0f}× |")
    for name, (p50, p99) in parts.items():
        print(f"| {name} | {p50:.3f} | {p99:.3f} | {p50 / base:.0f}× |")


if __name__ == "__main__":
    main()
