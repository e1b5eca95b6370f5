"""``pulserec serve`` (the HTTP service) and ``pulserec worker`` (refits for a Redis
deployment)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from pulserec.cli.common import (
    EncoderOption,
    SequentialOption,
    SetOption,
    console,
    dataset_path,
    load_settings,
    or_default,
    setting_help,
)


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
    trainer: Annotated[
        str | None,
        typer.Option(
            help=setting_help(
                "Factor model trainer: implicit (in this process) or spark (MLlib on "
                "engine.spark_master, from the log exported to Parquet).",
                "engine.factor_trainer",
            )
        ),
    ] = None,
    assignments: SetOption = None,
) -> None:
    """Refit the models of a Redis deployment and announce each version to the API processes.

    Refits every ``--every`` seconds and whenever an admin asks (POST /v1/admin/train
    queues a request); writes versioned artifacts into ``--artifacts-dir`` and publishes
    the version on the ``pulserec:models`` channel, which every API process swaps in.
    ``--trainer spark`` fits the factor model on Spark (``engine.spark_master``) from the
    log exported to Parquet; the rest of a refit runs here as always. With
    ``log.retention_s`` set, each refit is followed by an archive run (see
    ``pulserec archive-events``).
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
    if trainer is not None and trainer not in TRAINERS:
        console.print(f"[red]--trainer: expected one of {', '.join(TRAINERS)}, got {trainer!r}[/]")
        raise typer.Exit(2)
    settings = load_settings(assignments, encoder=encoder)
    config = settings.engine.to_engine_config()
    config = replace(
        config,
        sequential=or_default(sequential, config.sequential),
        factor_trainer=or_default(trainer, config.factor_trainer),
    )
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
            fits = run_worker(engine, every=every, once=once, log_settings=settings.log)
    except KeyboardInterrupt:
        fits = 0
    finally:
        engine.storage.close()
    console.print(f"worker stopped after {fits} refit(s)")


def export_events(
    storage: Annotated[
        str, typer.Option(help="Storage URL: sqlite:///path/pulserec.db or redis://host:port/db.")
    ],
    output: Annotated[Path, typer.Option(help="Parquet file to write.")],
) -> None:
    """Write the log's positive events to Parquet: user_id, item_id, weight, timestamp.

    The export the Spark trainer fits the factor model from (``--trainer spark`` writes
    one at each refit by itself); here for archiving the log or training elsewhere. Spam
    and negative events are left out; the file is readable by this account only.
    """
    from pulserec.engine.training import events_frame
    from pulserec.events.export import export_events as write_export
    from pulserec.events.export import positive_events
    from pulserec.storage import open_storage
    from pulserec.storage.files import private_umask

    store = open_storage(storage)
    try:
        frame = events_frame(store)
    finally:
        store.close()
    with private_umask():  # user ids and what they did
        path = write_export(frame, output)
    console.print(f"wrote {len(positive_events(frame))} events to {path}")


def archive_events(
    storage: Annotated[str, typer.Option(help="Shared storage URL, redis://host:port/db.")],
    retention_s: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help=setting_help(
                "Events older than this many seconds (by their timestamp) are archived.",
                "log.retention_s",
            ),
        ),
    ] = None,
    archive_dir: Annotated[
        Path | None,
        typer.Option(
            help=setting_help("Folder of the archive's Parquet files.", "log.archive_dir")
        ),
    ] = None,
    assignments: SetOption = None,
) -> None:
    """Move the Redis log's events older than the retention window to Parquet, once.

    Writes them to a new file in the archive folder (atomically), then trims them from
    the log and their users' streams; ``pulserec worker`` does the same after each refit.
    Refits and ``export-events`` read the archive; a user's deletion rewrites it. Safe to
    run beside the worker: one run at a time holds the archive, the other skips.
    """
    from pulserec.storage import open_storage
    from pulserec.storage.redis import RedisStorage
    from pulserec.storage.redis_archive import archive_log

    given = {"retention_s": retention_s, "archive_dir": archive_dir}
    settings = load_settings(assignments, log={k: v for k, v in given.items() if v is not None})
    if not storage.startswith("redis://"):
        console.print(
            f"[red]--storage: only a redis:// log is archived, got {storage!r}[/] (a SQLite "
            "log lives on disk, not in memory: it is kept whole)"
        )
        raise typer.Exit(2)
    hint = (
        "pass --retention-s SECONDS and --archive-dir (or set PULSEREC_LOG__RETENTION_S and "
        "PULSEREC_LOG__ARCHIVE_DIR)"
    )
    try:  # the worker's check (scaleout.archive_due), made before connecting
        folder = settings.log.archive_folder()
    except ValueError as exc:  # loaded settings were refused already, with this message
        console.print(f"[red]{exc}[/]: {hint}")
        raise typer.Exit(2) from None
    if folder is None:
        console.print(f"[red]log.retention_s: 0 archives nothing[/]: {hint}")
        raise typer.Exit(2)
    store = open_storage(storage)
    if not isinstance(store, RedisStorage):  # a redis:// URL always opens one
        raise TypeError(f"expected a RedisStorage for {storage!r}")
    try:  # the files are 0600 in a 0700 folder, whatever the umask
        report = archive_log(store, retention_s=settings.log.retention_s, folder=folder,
                             keep_s=settings.log.archive_keep_s)  # fmt: skip
    finally:
        store.close()
    if report.busy:
        console.print("another archive run holds the archive; nothing done")
        raise typer.Exit(1)
    console.print(
        f"archived {report.events} events into {len(report.files)} file(s) in "
        f"{report.seconds:.1f} s (finished a crashed run's trim: {report.recovered} events; "
        f"event ids dropped: {report.ids_dropped}; past log.archive_keep_s, removed: "
        f"{report.expired})"
    )


TRAINERS = ("implicit", "spark")
"""The factor model's trainers ``pulserec worker --trainer`` takes."""


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
