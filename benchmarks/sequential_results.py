"""The sequential transformer and the learned hybrid next to the classic models, ``loo``.

For each dataset: the ``loo`` split (every rating an interaction, per user the latest event
is the test item and the one before it the validation item), item text embeddings (use-m3,
through the on-disk cache) attached to the training interactions, then for each model one
fit on train (tuned on validation where the model has a grid, exactly as
``pulserec evaluate --protocol loo``) and two test evaluations of that same fitted model:
with the user's train and validation items masked (pulserec's default) and without masking
(RecBole's sequential protocol). Full ranking over all items.

It also times what the real-time engine does per request with the fitted transformer:
``score_sequences`` of one user's latest ``max_len`` items (one thread, medians of p50/p99).

``--protocol random811`` runs the per-user random split instead (one seed). The model
``hybrid-all`` is the hybrid blending every base (``selection="all"``), next to ``hybrid``
(forward selection of the bases). The transformer is fitted once per split: ``sequential``
and the hybrids' ``sequential`` base have the same data, parameters and seed, so the
hybrids reuse that fit (``--sequential-params`` changes it for all of them).

Usage::

    .venv/bin/python benchmarks/sequential_results.py --output results/sequential_results.json
    .venv/bin/python benchmarks/sequential_results.py \
        --datasets globo=../shared/data/globo-news-clicks-day1 --models covisit,sequential,hybrid

Prints one markdown table per dataset; ``--docs docs/results.md`` also writes them as a
section of that file (below a marker that ``benchmarks/results_table.py`` keeps; text after
the section's end marker is kept too).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from pulserec.config import DEFAULT_ENCODER, DEFAULT_SEED, get_settings
from pulserec.evaluation import blend_grid, evaluate, fit_model, make_split, to_split_data
from pulserec.events import load_dataset
from pulserec.models import Hybrid
from pulserec.models.content import item_texts_for
from pulserec.models.sequential import SequentialTransformer, user_sequences
from pulserec.text import CachedEncoder, make_encoder

REPO = Path(__file__).resolve().parents[1]
MARKER = "<!-- below: written by benchmarks/sequential_results.py -->"
END_MARKER = "<!-- end of the section written by benchmarks/sequential_results.py -->"
DATA = REPO / get_settings().data_root
MODELS = "pop,itemknn,ease,als,covisit,sequential,hybrid"
SHOWN = ("ndcg@10", "recall@10", "mrr@10")
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "hybrid-all": ("hybrid", {"selection": "all"}),
}
"""Row names that are a registered model with other parameters."""


@contextlib.contextmanager
def one_transformer_fit() -> Iterator[None]:
    """Within the block, a transformer fit with the same data and parameters is done once.

    The fit is deterministic given the data, the parameters and the seed, so a repeat
    restores the first fit's arrays instead of training again.
    """
    original = SequentialTransformer._fit
    done: dict[tuple[str, str, bool], dict[str, Any]] = {}

    def fit_once(model: SequentialTransformer, train: Any) -> None:
        params = json.dumps(model.get_params(), sort_keys=True, default=str)
        key = (model.fingerprint_, params, train.item_vectors is not None)
        if key in done:
            for attr, value in done[key].items():
                setattr(model, attr, value)
            model._prepare_scoring()
            return
        original(model, train)
        done[key] = {attr: getattr(model, attr) for attr in model._state}

    SequentialTransformer._fit = fit_once  # type: ignore[method-assign]
    try:
        yield
    finally:
        SequentialTransformer._fit = original  # type: ignore[method-assign]


def request_latency(model: SequentialTransformer, sequences: list[np.ndarray], n: int) -> dict:
    """p50/p99 milliseconds of ``score_sequences`` for one user at a time, one thread."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rng = np.random.default_rng(0)
        picks = rng.choice(len(sequences), n)
        model.score_sequences([sequences[picks[0]]])  # warm-up
        times = []
        for u in picks:
            t0 = time.perf_counter()
            model.score_sequences([sequences[u]])
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        torch.set_num_threads(threads)
    return {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99))}


def run(
    dataset: str,
    models: list[str],
    latency_requests: int,
    *,
    path: Path | None = None,
    protocol: str = "loo",
    seed: int = DEFAULT_SEED,
    sequential_params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    ds = load_dataset(dataset, path or DATA / dataset, verbose=False)
    data = to_split_data(make_split(ds.events, protocol, seed))
    encoder = CachedEncoder(
        make_encoder(DEFAULT_ENCODER), REPO / get_settings().embedding_cache_dir / DEFAULT_ENCODER
    )
    data.train = data.train.with_item_vectors(
        encoder.encode(item_texts_for(ds.items, data.train.items.to_list()))
    )
    out: dict[str, Any] = {"dataset": dataset, "protocol": protocol, "n_users": data.n_users,
                           "n_items": data.n_items, "rows": []}  # fmt: skip
    if protocol != "loo":
        out["seed"] = seed
    if sequential_params:
        out["sequential_params"] = sequential_params
    with one_transformer_fit():
        for name in models:
            tuned = {r["model"]: r["params"] for r in out["rows"]}
            out["rows"].append(one_row(name, data, sequential_params, latency_requests, tuned))
            row = out["rows"][-1]
            print(dataset, json.dumps({k: v for k, v in row.items() if k != "params"}), flush=True)
    return out


def one_row(
    name: str,
    data: Any,
    sequential_params: dict[str, Any] | None,
    latency_requests: int,
    tuned: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """Fit one model (tuned on validation; the hybrid may take its bases as the rows
    before it were tuned, ``tuned``) and test it masked and unmasked."""
    registered, params = VARIANTS.get(name, (name, {}))
    if sequential_params and registered == "sequential":
        params = {**params, **sequential_params}
    elif sequential_params and registered == "hybrid":
        params = {**params, "base_params": {"sequential": sequential_params}}
    grid = blend_grid(registered, tuned, params or None)
    model, fit_s, _ = fit_model(registered, data, params=params or None, grid=grid)
    row: dict[str, Any] = {"model": name, "fit_seconds": round(fit_s, 2),
                           "params": model.get_params()}  # fmt: skip
    if isinstance(model, Hybrid):
        row["weights"] = model.blend_weights_
        row["selection"] = getattr(model, "selection_", [])
    for label, mask in (("masked", True), ("unmasked", False)):
        scores, _ = evaluate(model, data, k=10, on="test", mask_history=mask)
        row[label] = {m: scores[m] for m in SHOWN}
    if isinstance(model, SequentialTransformer):
        row["epochs"], row["best_epoch"] = model.fit_epochs_, model.best_epoch_
        row["seconds_per_epoch"] = round(fit_s / max(model.fit_epochs_, 1), 2)
        tr = data.train
        seqs = user_sequences(tr.user_idx, tr.item_idx, tr.timestamp, data.n_users)
        if latency_requests:
            row["request_latency"] = request_latency(model, seqs, latency_requests)
    return row


def table(result: dict[str, Any]) -> str:
    head = ["model"] + [f"{m} {lab}" for lab in ("masked", "unmasked") for m in SHOWN]
    lines = ["| " + " | ".join([*head, "fit s"]) + " |",
             "|---" + "|---:" * (len(head)) + "|"]  # fmt: skip
    for r in result["rows"]:
        cells = [f"{r[lab][m]:.4f}" for lab in ("masked", "unmasked") for m in SHOWN]
        lines.append("| " + " | ".join([r["model"], *cells, f"{r['fit_seconds']:.1f}"]) + " |")
    return "\n".join(lines)


def docs_section(results: list[dict[str, Any]]) -> str:
    """The markdown section of docs/results.md for these results."""
    parts = [
        MARKER,
        "",
        "## Sequential models · loo · both masking modes · K=10",
        "",
        "`python benchmarks/sequential_results.py --docs docs/results.md`: every rating an "
        "interaction, per user the latest event is the test item and the one before it the "
        "validation item; each model fitted once on train (tuned on validation where it has a "
        "grid) and tested twice, with the user's train and validation items masked (pulserec's "
        "default) and unmasked (RecBole's sequential protocol: the model may rank what the user "
        "already had). Full ranking over all items; one run on the shared 2-core machine, fit "
        "times include whatever else ran there (load average about 3).",
    ]
    for result in results:
        parts += ["", f"### {result['dataset']} ({result['n_users']} users, "
                      f"{result['n_items']} items)", "", table(result)]  # fmt: skip
    return "\n".join(parts) + "\n"


def write_docs(path: Path, results: list[dict[str, Any]]) -> None:
    text = path.read_text() if path.is_file() else ""
    after = ""
    if END_MARKER in text:
        after = text[text.index(END_MARKER) + len(END_MARKER) :]
    if MARKER in text:
        text = text[: text.index(MARKER)]
    section = docs_section(results) + "\n" + END_MARKER + "\n"
    path.write_text(text.rstrip("\n") + "\n\n" + section + after)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--datasets",
        default="ml-100k,ml-latest-small",
        help="comma-separated names, each optionally NAME=PATH (default: <data_root>/NAME)",
    )
    parser.add_argument("--protocol", default="loo", choices=("loo", "random811"))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="of random811")
    parser.add_argument("--models", default=MODELS, help=f"also: {', '.join(VARIANTS)}")
    parser.add_argument(
        "--sequential-params",
        type=json.loads,
        default=None,
        help="JSON hyperparameters of the transformer, e.g. '{\"patience\": 3}'",
    )
    parser.add_argument("--latency-requests", type=int, default=500)
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--docs", type=Path, default=None, help="write the section here too")
    parser.add_argument(
        "--from-json", type=Path, default=None, help="only rewrite --docs from an --output file"
    )
    args = parser.parse_args()
    if args.from_json is not None:
        if args.docs is None:
            parser.error("--from-json needs --docs")
        write_docs(args.docs, json.loads(args.from_json.read_text()))
        return
    models = [m for m in args.models.split(",") if m]
    results = []
    for entry in args.datasets.split(","):
        dataset, _, path = entry.partition("=")
        results.append(
            run(
                dataset,
                models,
                args.latency_requests,
                path=Path(path) if path else None,
                protocol=args.protocol,
                seed=args.seed,
                sequential_params=args.sequential_params,
            )
        )
        print(f"\n{dataset} · {args.protocol} · full ranking · K=10\n\n{table(results[-1])}\n",
              flush=True)  # fmt: skip
        if args.output is not None:
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(json.dumps(results, indent=2))
    if args.docs is not None:
        write_docs(args.docs, results)


if __name__ == "__main__":
    main()
