"""``pulserec simulate``: an experiment on simulated users replayed from a real dataset."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from pulserec.cli.common import (
    DataDirOption,
    KOption,
    SequentialOption,
    SetOption,
    console,
    dataset_path,
    load_settings,
    or_default,
)
from pulserec.events.datasets import DATASETS


def simulate(
    dataset: Annotated[str, typer.Option(help=f"One of: {', '.join(DATASETS)}.")] = "ml-100k",
    data_dir: DataDirOption = None,
    experiment: Annotated[
        str, typer.Option(help="realtime, aa, diversity, exploration or transformer.")
    ] = "realtime",
    k: KOption = None,
    horizon: Annotated[
        int, typer.Option(min=1, help="A shown item among the user's next N events is clicked.")
    ] = 10,
    train_fraction: Annotated[
        float, typer.Option(help="Share of the timeline the engine is trained on.")
    ] = 0.5,
    max_users: Annotated[
        int | None, typer.Option(help="Simulate a seeded sample of this many users.")
    ] = None,
    seeds: Annotated[
        int, typer.Option(min=1, help="A/A: user splits drawn (one hash salt per seed).")
    ] = 20,
    horizon_users: Annotated[
        int, typer.Option(min=1, help="Fixed horizon: users every variant needs.")
    ] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the user sample.")] = 0,
    sequential: SequentialOption = None,
    output: Annotated[Path | None, typer.Option(help="Write results as JSON here.")] = None,
    assignments: SetOption = None,
) -> None:
    """Replay a dataset in time order through the engine with an experiment running:
    simulated users click shown items they really consume next; report the experiment."""
    from pulserec.config import OnlineSettings
    from pulserec.engine import Engine
    from pulserec.evaluation.replay import plan_replay
    from pulserec.events import load_dataset
    from pulserec.online import OnlineLoop
    from pulserec.online.simulate import EXPERIMENTS, resplit
    from pulserec.online.simulate import simulate as run_simulation
    from pulserec.online.stores import MemoryOnlineStore

    variants = EXPERIMENTS.get(experiment)
    if variants is None:
        raise typer.BadParameter(
            f"expected one of {sorted(EXPERIMENTS)}", param_hint="--experiment"
        )
    settings = load_settings(assignments)
    k = or_default(k, settings.eval.k)
    # the transformer takes minutes to fit; the simulation measures the loop around it
    sequential = or_default(sequential, experiment == "transformer")
    ds = load_dataset(dataset, dataset_path(settings, dataset, data_dir))
    plan = plan_replay(ds, train_fraction=train_fraction, max_users=max_users, seed=seed)
    config = replace(settings.engine.to_engine_config(), sequential=sequential)

    def make_engine() -> Engine:
        loop = OnlineLoop(MemoryOnlineStore(), OnlineSettings(max_buffer=10**7, retention_s=1e10))
        return Engine(config=config, online=loop)

    with console.status(f"simulating {experiment} on {dataset}") as status:
        def step(n: int, total: int) -> None:
            status.update(f"simulating {experiment} on {dataset}: event {n:,} of {total:,}")

        sim = run_simulation(plan, make_engine, variants, k=k, horizon=horizon,
                             horizon_users=horizon_users, on_step=step)  # fmt: skip
    report = sim.report
    console.print(
        f"{dataset}: {len(plan.users)} simulated users, {sim.steps:,} lists, "
        f"{sim.clicks:,} clicks, {sim.organic:,} organic events, {sim.seconds:.0f} s"
    )
    for v in report["variants"]:
        console.print(f"  {v['name']:<16} users {v['users']:>5}  impressions {v['impressions']:>7}"
                      f"  clicks {v['clicks']:>6}  CTR {v['ctr']:.4f}"
                      f"  [{v['ctr_low']:.4f}, {v['ctr_high']:.4f}]")  # fmt: skip
    for c in report["comparisons"]:
        console.print(f"  {c['variant']} - {c['control']}: {c['diff']:+.4f} "
                      f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}], p = {c['p_value']:.2g}, "
                      f"{'significant' if c['significant'] else 'not significant'}")  # fmt: skip
    for w in report["warnings"]:
        console.print(f"  [yellow]{w}")
    payload: dict[str, Any] = {
        "dataset": dataset, "experiment": experiment, "k": k, "horizon": horizon,
        "train_fraction": train_fraction, "max_users": max_users, "seed": seed,
        "sequential": sequential, "users": len(plan.users), "steps": sim.steps,
        "clicks": sim.clicks, "organic": sim.organic, "seconds": sim.seconds,
        "report": report, "online": sim.online,
    }  # fmt: skip
    if experiment == "aa":
        splits = [resplit(sim.per_user, variants, f"aa-seed-{s}") for s in range(seeds)]
        n_sig = sum(s["p_value"] < 0.05 for s in splits)
        p_values = ", ".join(f"{s['p_value']:.2f}" for s in splits)
        console.print(f"  A/A over {seeds} user splits: significant at 5% in {n_sig} "
                      f"({n_sig / seeds:.0%}); p-values {p_values}")  # fmt: skip
        # the same test over many more splits: the share significant estimates its size
        many = [resplit(sim.per_user, variants, f"aa-many-{s}") for s in range(1000)]
        rate = sum(s["p_value"] < 0.05 for s in many) / len(many)
        rate_z = sum(s["p_value_z"] < 0.05 for s in many) / len(many)
        console.print(f"  A/A over 1000 user splits: significant at 5% in {rate:.1%} "
                      f"({many[0]['test']} test; the z-test in {rate_z:.1%})")  # fmt: skip
        payload["aa_splits"] = splits
        payload["aa_rate_1000_splits"] = rate
        payload["aa_rate_1000_splits_z"] = rate_z
        payload["per_user"] = sim.per_user
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(payload, indent=2, default=float))
        console.print(f"results written to {output}")
