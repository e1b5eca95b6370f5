"""The ``pulserec`` command line: a thin shell over the library."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import numpy as np
import scipy.sparse as sp
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pulserec.config_names import default_of, env_name
from pulserec.events.datasets import DATASETS

if TYPE_CHECKING:
    from pulserec.config import Settings

app = typer.Typer(
    help="pulserec: recommendations that follow what each user is interested in right now.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()

SHOWN_METRICS = ("recall", "ndcg", "mrr", "hit", "precision", "coverage")

T = TypeVar("T")


def setting_help(text: str, setting: str) -> str:
    """Help of an option whose default is a setting: names the default and the variable.

    The built-in default is shown; the environment is read when the command runs.
    """
    return f"{text.rstrip('.')} (default {default_of(setting)}, or {env_name(setting)})."


# Options several commands share; each falls back to its setting when not given.
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        help="Local folder or file of the dataset (default <data_root>/<dataset>, data_root "
        f"being {default_of('data_root')} or PULSEREC_DATA_ROOT)."
    ),
]
CacheDirOption = Annotated[
    Path | None,
    typer.Option(
        help="Embedding cache folder, one subfolder per encoder (default <data_dir>/embeddings, "
        "data_dir being .data or PULSEREC_DATA_DIR)."
    ),
]
EncoderOption = Annotated[
    str | None, typer.Option(help=setting_help("Text encoder name.", "encoder"))
]
KOption = Annotated[
    int | None, typer.Option(min=1, max=1000, help=setting_help("List length K.", "eval.k"))
]
SequentialOption = Annotated[
    bool | None,
    typer.Option(
        help=setting_help("Fit the sequential transformer into the ranking.", "engine.sequential")
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Set any setting, e.g. --set engine.n_candidates=200 (repeatable; JSON for "
        "objects); see docs/configuration.md.",
    ),
]


def or_default(value: T | None, default: T) -> T:
    """An option's value, or its setting's when the option was not given."""
    return default if value is None else value


def load_settings(assignments: list[str] | None = None, **given: Any) -> Settings:
    """The settings: the environment, then the options ``given`` (None: not given), then
    ``--set`` assignments; a bad one is reported by its dotted name."""
    from pulserec.config_names import settings_with

    try:
        return settings_with(
            assignments or (), **{k: v for k, v in given.items() if v is not None}
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--set / PULSEREC_*") from None


def dataset_path(settings: Settings, dataset: str, data_dir: Path | None) -> Path:
    """``--data-dir``, or ``<data_root>/<dataset>``; fails when neither holds the data."""
    if data_dir is not None:
        return data_dir
    path = settings.dataset_dir(dataset)
    if not path.exists():
        raise typer.BadParameter(
            f"no {dataset} data at {path}: pass --data-dir, or set PULSEREC_DATA_ROOT to the "
            f"folder holding {dataset}/",
            param_hint="--data-dir",
        )
    return path


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


@app.command()
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
    from pulserec.evaluation import make_split, read_split, run_model, to_split_data, write_split
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

            n_trials = len(param_combinations(MODELS[name].param_grid)) if tune else 0
            task = progress.add_task(name, total=n_trials + 1)
            result = run_model(
                name,
                data,
                k=k,
                tune_params=tune,
                mask_history=mask_history,
                item_features=features,
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


@app.command()
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


@app.command()
def replay(
    dataset: Annotated[
        str,
        typer.Option(
            help=f"One of: {', '.join(DATASETS)}; or synthetic[:PRESET] (a generated log, "
            "PRESET ml-100k-like, globo-like or shop-like)."
        ),
    ] = "ml-100k",
    data_dir: DataDirOption = None,
    realtime: Annotated[
        str,
        typer.Option(help="on, off, or both (state updated per event, or frozen at the cut-off)."),
    ] = "both",
    k: KOption = None,
    train_fraction: Annotated[
        float, typer.Option(help="Share of the timeline before the cut-off.")
    ] = 0.8,
    max_users: Annotated[
        int | None, typer.Option(help="Replay only a seeded sample of test users.")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help=setting_help("Seed of the user sample.", "eval.seed"))
    ] = None,
    protocol: Annotated[
        str | None,
        typer.Option(
            help="items (recommend, then ingest each event) or impressions (MIND: rank each "
            "impression's candidates); default impressions for mind and mind-zh, else items."
        ),
    ] = None,
    session_gap: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Session-kNN: a gap of this many seconds starts a new session; 0 for one "
            "running session of each user's latest items.",
        ),
    ] = 1800.0,
    short_half_life: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Seconds: a second live-trending baseline beside the engine's half-life (0: "
            "none).",
        ),
    ] = 3600.0,
    reflect_sample: Annotated[
        int,
        typer.Option(min=0, help="Scored events whose ingest-to-next-list time is measured."),
    ] = 300,
    # no text by default: the replay then measures the event signal alone, and runs in minutes
    encoder: Annotated[str, typer.Option(help="Text encoder name, or none.")] = "none",
    sequential: SequentialOption = None,
    output: Annotated[Path | None, typer.Option(help="Write results as JSON here.")] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Save the HitRate-per-time-slice curve as a PNG here.")
    ] = None,
    assignments: SetOption = None,
) -> None:
    """Streaming replay in time order: real-time interest capture on vs off, and baselines.

    Popularity (frozen at the cut-off), live trending and session-kNN (both
    updated on every event) are replayed on the same scored events; results
    are broken down by the user's earlier events and by the item's age.
    """
    from pulserec.engine import Engine
    from pulserec.evaluation.baselines import BaselineSettings
    from pulserec.evaluation.replay import replay_methods
    from pulserec.evaluation.replay_tables import ratio_lines, rich_tables
    from pulserec.events import load_dataset

    modes = {"on": [True], "off": [False], "both": [True, False]}.get(realtime)
    if modes is None:
        raise typer.BadParameter("expected on, off or both", param_hint="--realtime")
    is_mind = dataset in ("mind", "mind-zh")
    protocol = or_default(protocol, "impressions" if is_mind else "items")
    if protocol not in ("items", "impressions") or (protocol == "impressions" and not is_mind):
        raise typer.BadParameter(
            "expected items, or impressions for mind and mind-zh", param_hint="--protocol"
        )
    settings = load_settings(assignments)
    k = or_default(k, settings.eval.k)
    seed = or_default(seed, settings.eval.seed)
    sequential = or_default(sequential, settings.engine.sequential)
    if dataset == "synthetic" or dataset.startswith("synthetic:"):
        from pulserec.evaluation.synthetic import load_synthetic

        preset = dataset.partition(":")[2] or None
        try:
            ds = load_synthetic(preset=preset, seed=seed)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--dataset") from None
    else:
        data_dir = dataset_path(settings, dataset, data_dir)
        ds = load_dataset(dataset, data_dir)

    def make_engine() -> Engine:
        config = replace(settings.engine.to_engine_config(), sequential=sequential)
        if encoder == "none":
            return Engine(config=config)
        from pulserec.text import make_encoder

        return Engine(encoder=make_encoder(encoder), config=config)

    if protocol == "impressions":
        assert data_dir is not None
        run = {"dataset": dataset, "encoder": encoder, "sequential": sequential}
        _replay_mind(ds, data_dir, make_engine, modes, train_fraction, max_users, seed, output, run)
        return
    half_lives = (settings.engine.trending_half_life_s,) + (
        (short_half_life,) if short_half_life > 0 else ()
    )
    baselines = BaselineSettings(
        half_lives_s=half_lives, session_gap_s=session_gap if session_gap > 0 else None
    )
    with Progress(*_progress_columns(), console=console) as progress:
        tasks: dict[str, Any] = {}

        def step(name: str, n: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = progress.add_task(name, total=total)
            progress.update(tasks[name], completed=n)

        report = replay_methods(
            ds, make_engine, modes=modes, train_fraction=train_fraction, k=k,
            max_users=max_users, seed=seed, baselines=baselines,
            reflect_sample=reflect_sample, on_step=step,
        )  # fmt: skip
    report.extra = {"encoder": encoder, "sequential": sequential}
    payload = report.to_dict()
    for table in rich_tables(payload):
        console.print(table)
    for line in ratio_lines(payload):
        console.print(f"real-time {line}")
    if plot is not None:
        console.print(f"curve saved to {report.plot(plot)}")
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(payload, indent=2))
        console.print(f"results written to {output}")


@app.command()
def serve(
    demo: Annotated[
        bool, typer.Option(help="Seed the demo data and train when the storage is empty.")
    ] = False,
    host: Annotated[str | None, typer.Option(help=setting_help("Address to bind.", "host"))] = None,
    port: Annotated[
        int | None, typer.Option(min=0, max=65535, help=setting_help("Port to bind.", "port"))
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help=setting_help("Data directory: database, artifacts, embedding cache.", "data_dir")
        ),
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            help="Storage URL (default sqlite:///<data-dir>/pulserec.db, or PULSEREC_STORAGE_URL)."
        ),
    ] = None,
    encoder: EncoderOption = None,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = True,
    dataset: Annotated[
        str | None,
        typer.Option(help="Seed a real dataset (e.g. ml-latest-small) when the storage is empty."),
    ] = None,
    dataset_dir: Annotated[
        Path | None, typer.Option(help="Local folder of --dataset (default <data_root>/<dataset>).")
    ] = None,
    assignments: SetOption = None,
) -> None:
    """Run the HTTP service (FastAPI + uvicorn). Docs at /docs once it runs.

    Every setting has a way in: its PULSEREC_* variable, or --set NAME=VALUE (which wins),
    e.g. --set engine.n_candidates=200 --set limits.max_batch=500; the options above are
    shortcuts for the common ones. docs/configuration.md lists them all.

    Without a configured API key (PULSEREC_API_KEYS / PULSEREC_API_KEYS_FILE) a local
    development key with every scope is made and printed, and only a loopback address
    may be bound.
    """
    import uvicorn
    from pydantic import SecretStr

    from pulserec.service import create_app
    from pulserec.service.keys import generate_dev_key, is_loopback

    given = {"host": host, "port": port, "data_dir": data_dir, "storage_url": storage,
             "encoder": encoder}  # fmt: skip
    settings = load_settings(assignments, **given)
    if not settings.api_keys.get_secret_value() and settings.api_keys_file is None:
        if not is_loopback(settings.host):
            console.print(
                f"[red]refusing to bind {settings.host}: no API key is configured.[/] Set "
                "PULSEREC_API_KEYS='key:ingest+read+admin' (or PULSEREC_API_KEYS_FILE), or "
                "bind 127.0.0.1 / ::1 / localhost to use a generated development key."
            )
            raise typer.Exit(2)
        key = generate_dev_key()
        settings = settings.model_copy(update={"api_keys": SecretStr(f"{key}:admin+ingest+read")})
        console.print(
            "no API key configured: made a development key with scopes admin+ingest+read, "
            "valid until this server stops:"
        )
        console.print(f"  X-API-Key: {key}", soft_wrap=True, highlight=False)
        base = f"http://{_url_host(settings.host)}:{settings.port}"
        console.print(f"  live page: {base}/#key={key}", soft_wrap=True, highlight=False)
        console.print(f"  dashboard: {base}/dashboard#key={key}", soft_wrap=True, highlight=False)
    if dataset is not None:
        on_empty = _dataset_seeder(dataset, dataset_path(settings, dataset, dataset_dir))
    else:
        on_empty = _demo_seeder() if demo else None
    uvicorn.run(
        create_app(settings, on_empty=on_empty),
        host=settings.host,
        port=settings.port,
        access_log=access_log,
        log_level="info",
    )


@app.command()
def worker(
    storage: Annotated[str, typer.Option(help="Shared storage URL, redis://host:port/db.")],
    artifacts_dir: Annotated[
        Path, typer.Option(help="Shared artifact folder: <api data-dir>/artifacts.")
    ],
    every: Annotated[
        float | None,
        typer.Option(min=1.0, help="Seconds between refits (default: only on request)."),
    ] = None,
    once: Annotated[bool, typer.Option(help="Refit once, announce, and exit.")] = False,
    encoder: EncoderOption = None,  # the API processes' (topics, the transformer's item text)
    sequential: SequentialOption = None,
    assignments: SetOption = None,
) -> None:
    """Refit the models of a Redis deployment and announce each version to the API processes.

    Refits every ``--every`` seconds and whenever an admin asks (POST /v1/admin/train
    queues a request); writes versioned artifacts into ``--artifacts-dir`` and publishes
    the version on the ``pulserec:models`` channel, which every API process swaps in.
    """
    import logging

    from pulserec.engine import Engine
    from pulserec.scaleout import run_worker
    from pulserec.storage import open_storage
    from pulserec.storage.files import private_umask
    from pulserec.text import make_encoder

    if not storage.startswith("redis://"):
        console.print(f"[red]--storage: the worker needs a redis:// URL, got {storage!r}[/]")
        raise typer.Exit(2)
    settings = load_settings(assignments, encoder=encoder)
    config = settings.engine.to_engine_config()
    config = replace(config, sequential=or_default(sequential, config.sequential))
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("pulserec").setLevel(logging.INFO)
    engine = Engine(
        open_storage(storage),
        make_encoder(settings.encoder),
        config,
        artifacts_dir=artifacts_dir,
    )
    engine.load_from_storage()
    try:
        with private_umask():  # artifacts readable by this account only, as the server's
            fits = run_worker(engine, every=every, once=once)
    except KeyboardInterrupt:
        fits = 0
    finally:
        engine.storage.close()
    console.print(f"worker stopped after {fits} refit(s)")


def _url_host(host: str) -> str:
    """``host`` as it goes in a URL: IPv6 addresses in brackets."""
    return f"[{host}]" if ":" in host else host


def _dataset_seeder(name: str, path: Path | None) -> Callable[[Any], None]:
    """Load a public dataset into an empty storage (the server then trains on it)."""
    from pulserec.catalog import Catalog
    from pulserec.evaluation.replay import to_events
    from pulserec.events import load_dataset

    def seed(engine: Any) -> None:
        console.print(f"empty storage: loading {name} from {path}")
        ds = load_dataset(name, path)
        engine.upsert_items(list(Catalog.from_frame(ds.items)))
        engine.bootstrap(list(to_events(ds.events)))

    return seed


def _demo_seeder() -> Callable[[Any], None]:
    """``seed_engine`` of the demo package (the server then trains); fails loudly without it."""
    try:
        from pulserec.demo import seed_engine
    except ImportError as exc:
        console.print(
            f"[red]--demo needs the demo data (pulserec.demo.seed_engine), "
            f"which is not importable here: {exc}[/]"
        )
        raise typer.Exit(2) from exc

    def seed(engine: Any) -> None:
        console.print("empty storage: seeding the demo data")
        # no training here: the server fits every model but the transformer first, so it
        # answers within seconds, and brings the transformer in behind
        seed_engine(engine, train=False)

    return seed


@app.command()
def keywords(
    text: Annotated[str, typer.Argument(help="Text in English or Chinese.")],
    k: Annotated[int, typer.Option(min=1, max=50, help="How many keywords.")] = 5,
    diversity: Annotated[float, typer.Option(min=0.0, max=1.0, help="MMR diversity.")] = 0.5,
    encoder: EncoderOption = None,
) -> None:
    """Key phrases of a text, scored by a language model and made diverse."""
    from pulserec.text import extract_keywords, make_encoder

    name = or_default(encoder, load_settings().encoder)
    for phrase, score in extract_keywords(text, make_encoder(name), k=k, diversity=diversity):
        console.print(f"{score:.3f}  {phrase}")


@app.command("similar-items")
def similar_items(
    item_id: Annotated[str, typer.Argument(help="The item to find neighbours of.")],
    dataset: Annotated[
        str,
        typer.Option(
            help=f"demo (built in, English and Chinese) or one of: {', '.join(DATASETS)}."
        ),
    ] = "demo",
    data_dir: DataDirOption = None,
    k: Annotated[int, typer.Option(min=1, max=100, help="How many items.")] = 10,
    encoder: EncoderOption = None,
    cache_dir: CacheDirOption = None,
) -> None:
    """Items like ITEM_ID: co-visitation, factor and text similarity from a dataset."""
    from pulserec.catalog import Catalog
    from pulserec.engine import Engine
    from pulserec.evaluation.replay import to_events
    from pulserec.events import load_dataset
    from pulserec.text import CachedEncoder, make_encoder

    settings = load_settings()
    name = or_default(encoder, settings.encoder)
    cache = or_default(cache_dir, settings.embedding_cache_dir) / name
    engine = Engine(
        encoder=CachedEncoder(make_encoder(name), cache),
        config=settings.engine.to_engine_config(),
    )
    if dataset == "demo":
        from pulserec.demo import generate_history, load_demo_items

        items = load_demo_items()
        engine.upsert_items(items)
        history = generate_history(items)
    else:
        ds = load_dataset(dataset, dataset_path(settings, dataset, data_dir), verbose=False)
        engine.upsert_items(list(Catalog.from_frame(ds.items)))
        history = list(to_events(ds.events))
    if item_id not in engine.catalog:
        raise typer.BadParameter(f"unknown item id {item_id!r} in {dataset}", param_hint="ITEM_ID")
    engine.bootstrap(history)
    engine.train(fit_weights_on_valid=False)
    item = engine.catalog.get(item_id)
    table = Table(title=f"items similar to {item.title or item_id}")
    for col in ("item_id", "title", "score"):
        table.add_column(col)
    for s in engine.similar(item_id, k):
        table.add_row(s.item_id, engine.catalog.get(s.item_id).title, f"{s.score:.3f}")
    console.print(table)


def _replay_mind(
    ds: Any,
    data_dir: Path,
    make_engine: Any,
    modes: list[bool],
    train_fraction: float,
    max_impressions: int | None,
    seed: int,
    output: Path | None,
    run: dict[str, Any],
) -> None:
    """MIND's protocol: rank each test impression's candidates (AUC, MRR, nDCG@5, nDCG@10).

    ``run`` names the dataset, encoder and whether the transformer is on, for the report.
    """
    from pulserec.evaluation.impressions import replay_impressions, split_impressions
    from pulserec.events.loaders import load_mind_impressions

    impressions = load_mind_impressions(data_dir)
    split = split_impressions(ds, impressions, train_fraction=train_fraction,
                              max_impressions=max_impressions, seed=seed)  # fmt: skip
    with_text = set(ds.items.loc[ds.items["text"].fillna("").str.strip() != "", "item_id"])
    shown = [c for j in split.scored for c in split.test[j].candidates]
    coverage = sum(c in with_text for c in shown) / max(len(shown), 1)
    console.print(
        f"{run['dataset']}: {len(with_text):,} news with text, {coverage:.0%} of the scored "
        f"candidates; encoder {run['encoder']}, transformer {'on' if run['sequential'] else 'off'}"
    )
    if run["encoder"] == "none":
        console.print("[yellow]no text encoder: the engine ranks without text (--encoder use-m3)")
    rows: list[dict[str, Any]] = []
    pop: dict[str, float] = {}
    for mode in modes:
        t0 = time.perf_counter()
        with console.status(f"replaying MIND impressions, realtime {'on' if mode else 'off'}"):
            ours, pop = replay_impressions(
                ds, impressions, make_engine, train_fraction=train_fraction, realtime=mode,
                max_impressions=max_impressions, seed=seed,
            )  # fmt: skip
        name = f"realtime-{'on' if mode else 'off'}"
        rows.append({"name": name, "metrics": ours, "seconds": time.perf_counter() - t0})
    rows.append({"name": "popularity", "metrics": pop, "seconds": 0.0})
    table = Table(
        title=f"{run['dataset']} · impression ranking · cut at {train_fraction:.0%} of the timeline"
    )
    for col in ("run", "AUC ± s.e.", "MRR", "nDCG@5", "nDCG@10", "scored", "seconds"):
        table.add_column(col, justify="left" if col == "run" else "right")
    for r in rows:
        m = r["metrics"]
        table.add_row(
            r["name"], f"{m['auc']:.4f}±{m['auc_se']:.3f}", f"{m['mrr']:.4f}",
            f"{m['ndcg@5']:.4f}", f"{m['ndcg@10']:.4f}", f"{int(m['impressions'])}",
            f"{r['seconds']:.1f}",
        )  # fmt: skip
    console.print(table)
    if output is not None:
        payload = {
            **run, "protocol": "impressions", "train_fraction": train_fraction,
            "max_impressions": max_impressions, "seed": seed, "news_with_text": len(with_text),
            "candidates_with_text": coverage, "results": rows,
        }  # fmt: skip
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(payload, indent=2))
        console.print(f"results written to {output}")


def _progress_columns() -> list[Any]:
    return [
        TextColumn("{task.description:<14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]


def main() -> None:
    app()


if __name__ == "__main__":
    main()
