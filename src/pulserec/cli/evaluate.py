"""``pulserec evaluate`` and ``pulserec train``: offline models on a dataset."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import scipy.sparse as sp
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pulserec.cli.common import (
    CacheDirOption,
    DataDirOption,
    EncoderOption,
    KOption,
    console,
    dataset_path,
    load_settings,
    or_default,
    setting_help,
)
from pulserec.config_names import default_of
from pulserec.events.datasets import DATASETS

SHOWN_METRICS = ("recall", "ndcg", "mrr", "hit", "precision", "coverage")


def category_features(items: Any, item_ids: list[str]) -> sp.csr_matrix | None:
    """One-hot item categories aligned to ``item_ids``, or None when no item has any."""
    if items is None or len(items) == 0 or "categories" not in items.columns:
        return None
    by_id = dict(zip(items["item_id"].astype(str), items["categories"], strict=True))
    names: dict[str, int] = {}
    rows, cols = [], []
    for row, item_id in enumerate(item_ids):
        for cat in by_id.get(item_id) or ():
            rows.append(row)
            cols.append(names.setdefault(str(cat), len(names)))
    if not names:
        return None
    data = np.ones(len(rows), dtype=np.float32)
    return sp.csr_matrix((data, (rows, cols)), shape=(len(item_ids), len(names)))


def embed_items(items: Any, item_ids: list[str], encoder: str, cache_dir: Path) -> np.ndarray:
    """Text embeddings of items aligned with ``item_ids``, through the on-disk cache."""
    from pulserec.models.content import item_texts_for
    from pulserec.text import CachedEncoder, make_encoder

    texts = item_texts_for(items, item_ids)
    cached = CachedEncoder(make_encoder(encoder), cache_dir / encoder)
    return cached.encode(texts, progress=True)


def evaluate(
    dataset: Annotated[str, typer.Option(help=f"One of: {', '.join(DATASETS)}.")] = "ml-100k",
    data_dir: DataDirOption = None,
    protocol: Annotated[
        str | None, typer.Option(help=setting_help("random811 or loo.", "eval.protocol"))
    ] = None,
    models: Annotated[
        str | None, typer.Option(help=setting_help("Comma-separated model names.", "eval.models"))
    ] = None,
    k: KOption = None,
    seed: Annotated[
        int | None, typer.Option(help=setting_help("Seed of the random split.", "eval.seed"))
    ] = None,
    split_dir: Annotated[
        Path | None, typer.Option(help="Read a fixed split (train/valid/test.csv) instead.")
    ] = None,
    save_split: Annotated[Path | None, typer.Option(help="Write the split used here.")] = None,
    tune: Annotated[bool, typer.Option(help="Search hyperparameters on validation.")] = True,
    mask_history: Annotated[
        bool, typer.Option(help="Mask the user's train (and validation) items when testing.")
    ] = True,
    output: Annotated[Path | None, typer.Option(help="Write results as JSON here.")] = None,
    encoder: EncoderOption = None,
    cache_dir: CacheDirOption = None,
) -> None:
    """Full-ranking evaluation of models on a dataset; prints a table, writes JSON."""
    from pulserec.evaluation import (
        blend_grid,
        make_split,
        read_split,
        run_model,
        to_split_data,
        write_split,
    )
    from pulserec.events import load_dataset
    from pulserec.models import MODELS

    settings = load_settings()
    protocol = or_default(protocol, settings.eval.protocol)
    models = or_default(models, settings.eval.models)
    k = or_default(k, settings.eval.k)
    seed = or_default(seed, settings.eval.seed)
    encoder = or_default(encoder, settings.encoder)
    cache_dir = or_default(cache_dir, settings.embedding_cache_dir)
    names = [m.strip() for m in models.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        raise typer.BadParameter(
            f"unknown model(s) {unknown}; known: {sorted(MODELS)}", param_hint="--models"
        )
    if dataset not in DATASETS:
        raise typer.BadParameter(
            f"unknown dataset {dataset!r}; known: {list(DATASETS)}", param_hint="--dataset"
        )

    t0 = time.perf_counter()
    ds = load_dataset(dataset, dataset_path(settings, dataset, data_dir))
    if split_dir is not None:
        split = read_split(split_dir)
        protocol_name = f"fixed:{split_dir}"
    else:
        split = make_split(ds.events, protocol, seed)
        protocol_name = protocol
    if save_split is not None:
        write_split(split, save_split)
    data = to_split_data(split)
    if {"content", "sequential", "hybrid"} & set(names):  # models that read item text
        data.train = data.train.with_item_vectors(
            embed_items(ds.items, data.train.items.to_list(), encoder, cache_dir)
        )
    features = category_features(ds.items, data.train.items.to_list())
    console.print(
        f"[bold]{dataset}[/]: {data.n_users} users, {data.n_items} items, "
        f"split {split.sizes()} ({protocol_name}), loaded in {time.perf_counter() - t0:.2f}s"
    )

    results = []
    columns = [
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=console, transient=False) as progress:
        for name in names:
            from pulserec.evaluation import param_combinations

            # the hybrid may take its bases as the rows before it were tuned
            grid = blend_grid(name, {r.model: r.params for r in results})
            combos = param_combinations(MODELS[name].param_grid if grid is None else grid)
            task = progress.add_task(name, total=(len(combos) if tune else 0) + 1)
            result = run_model(
                name,
                data,
                k=k,
                tune_params=tune,
                mask_history=mask_history,
                item_features=features,
                grid=grid,
                on_trial=lambda _trial, task=task: progress.advance(task),
            )
            progress.advance(task)
            results.append(result)

    table = Table(title=f"{dataset} · {protocol_name} · full ranking · K={k}")
    table.add_column("model")
    for m in SHOWN_METRICS:
        table.add_column(f"{m}@{k}", justify="right")
    table.add_column("fit s", justify="right")
    table.add_column("eval s", justify="right")
    for r in results:
        table.add_row(
            r.model,
            *(f"{r.metrics[f'{m}@{k}']:.4f}" for m in SHOWN_METRICS),
            f"{r.fit_seconds:.2f}",
            f"{r.eval_seconds:.2f}",
        )
    console.print(table)

    if output is not None:
        payload = {
            "dataset": dataset,
            "protocol": protocol_name,
            "k": k,
            "mask_history": mask_history,
            "seed": seed if split_dir is None else None,
            "n_users": data.n_users,
            "n_items": data.n_items,
            "split": split.sizes(),
            "results": [r.to_dict() for r in results],
        }
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(payload, indent=2))
        console.print(f"results written to {output}")


def train(
    dataset: Annotated[str, typer.Option(help=f"One of: {', '.join(DATASETS)}.")] = "ml-100k",
    data_dir: DataDirOption = None,
    model: Annotated[str, typer.Option(help="Model name.")] = "ease",
    output: Annotated[
        Path | None,
        typer.Option(
            help="Artifact folder, model.npz + manifest.json (default <artifacts_dir>/<model>, "
            f"artifacts_dir being {default_of('artifacts_dir')} or PULSEREC_ARTIFACTS_DIR)."
        ),
    ] = None,
    encoder: EncoderOption = None,
    cache_dir: CacheDirOption = None,
) -> None:
    """Fit one model on all positive interactions of a dataset and save it."""
    from pulserec.events import Interactions, load_dataset
    from pulserec.models import make_model

    settings = load_settings()
    output = or_default(output, settings.artifacts_dir / model)
    encoder = or_default(encoder, settings.encoder)
    cache_dir = or_default(cache_dir, settings.embedding_cache_dir)
    ds = load_dataset(dataset, dataset_path(settings, dataset, data_dir))
    inter = Interactions.from_events(ds.events)
    if model == "content":
        inter = inter.with_item_vectors(
            embed_items(ds.items, inter.items.to_list(), encoder, cache_dir)
        )
    t0 = time.perf_counter()
    fitted = make_model(model).fit(inter)
    path = fitted.save(output)
    ids = {"users": inter.users.to_list(), "items": inter.items.to_list()}
    (path / "ids.json").write_text(json.dumps(ids))
    console.print(
        f"{model} fitted on {inter.nnz} interactions in {time.perf_counter() - t0:.2f}s -> {path}"
    )
