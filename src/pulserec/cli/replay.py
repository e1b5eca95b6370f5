"""``pulserec replay``: the streaming replay in time order, and MIND's impression replay."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pulserec.cli.common import (
    DataDirOption,
    KOption,
    SequentialOption,
    SetOption,
    console,
    dataset_path,
    load_settings,
    or_default,
    setting_help,
)
from pulserec.evaluation.synthetic import PRESETS
from pulserec.events.datasets import DATASETS


def replay(
    dataset: Annotated[
        str,
        typer.Option(
            help=f"One of: {', '.join(DATASETS)}; or synthetic[:PRESET] (a generated log, "
            f"PRESET one of {', '.join(PRESETS)})."
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
        list[float] | None,
        typer.Option(
            min=0.0,
            help="Seconds: a live-trending baseline beside the engine's half-life; repeat "
            "for several (default: 1 hour and 10 minutes; 0: none).",
        ),
    ] = None,
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
    from pulserec.evaluation.baselines import SHORT_HALF_LIVES_S, BaselineSettings
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
    shorts = SHORT_HALF_LIVES_S if short_half_life is None else tuple(short_half_life)
    half_lives = (settings.engine.trending_half_life_s, *(h for h in shorts if h > 0))
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
