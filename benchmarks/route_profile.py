"""Where one GET /v1/users/{id}/recommendations spends its CPU, in process.

    python benchmarks/route_profile.py --dataset-dir ../shared/data/ml-latest-small \
        --work-dir /tmp/pulserec-route-profile --set engine.sequential=false

The app runs its lifespan (storage, models; the first run trains) in this process, and
requests are whole ASGI calls (middleware, auth, validation, the route, JSON) with no
socket or HTTP parsing, so the figures leave out uvicorn and the load generator that
``benchmarks/http_load.py`` counts. Printed, as CPU milliseconds per request (medians of
``--rounds``): the route, the route with its engine call run inline (no thread-pool hop),
``Engine.recommend`` alone and ``GET /healthz``; then ``Engine.recommend`` part by part
(each candidate source, the feature matrix, the reasons, the list logging). Users are drawn
at random, after one warm-up request each. ``--profile`` adds a cProfile of the route run
inline (cProfile sees one thread only), sorted by own time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import pstats
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from http_load import KEY, population, prepare
from pulserec.config_names import settings_with


async def call(app: Any, path: str, query: str = "") -> tuple[int, bytes]:
    """One GET through the whole ASGI app: its status and body."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": query.encode(), "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "headers": [(b"host", b"127.0.0.1:8000"), (b"x-api-key", KEY.encode())],
    }  # fmt: skip
    status = 0
    body: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(body)


async def timed(app: Any, paths: list[str], query: str = "") -> float:
    """CPU ms per request (every thread of this process) over ``paths``."""
    t0 = time.process_time()
    for p in paths:
        status, body = await call(app, p, query)
        assert status == 200, (status, body[:300])
    return (time.process_time() - t0) * 1000.0 / len(paths)


@contextmanager
def inline_route() -> Iterator[None]:
    """Run the recommendation route's engine call on the event loop's thread."""
    import pulserec.service.routers.users as users_router

    pooled = users_router.__dict__["run_in_threadpool"]

    async def inline(func: Callable[..., Any], *args: Any) -> Any:
        return func(*args)

    setattr(users_router, "run_in_threadpool", inline)  # noqa: B010
    try:
        yield
    finally:
        setattr(users_router, "run_in_threadpool", pooled)  # noqa: B010


@contextmanager
def timing_parts(spent: defaultdict[str, float]) -> Iterator[None]:
    """Add each engine part's wall time to ``spent`` while inside."""
    import pulserec.engine.core as core
    import pulserec.engine.rank as rank
    from pulserec.engine.explain import Explainer
    from pulserec.engine.sources import SOURCES

    targets: list[tuple[Any, str, str]] = [
        *((type(source), "candidates", f"source {name}") for name, source in SOURCES.items()),
        (rank, "feature_matrix", "feature matrix"),
        (Explainer, "reasons", "reasons"),
        (rank.Ranker, "allowed", "seen/deleted/excluded mask"),
        (rank, "mmr", "ordering (mmr)"),
        (core.Engine, "serve_list", "list logging (serve_list)"),
        (core.Engine, "catch_up", "catch-up"),
    ]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in targets]

    def timer(func: Callable[..., Any], label: str) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - t0

        return wrapper

    for (owner, name, label), (_, _, func) in zip(targets, originals, strict=True):
        setattr(owner, name, timer(func, label))
    try:
        yield
    finally:
        for owner, name, func in originals:
            setattr(owner, name, func)


def in_process_app(
    args: argparse.Namespace, extra: Sequence[str] = ()
) -> tuple[Any, list[str], list[str]]:
    """The app on ``args.work_dir`` (the dataset written into its log first), with
    ``args.assignments`` and ``extra`` set, and the log's users and items; its lifespan
    runs when a ``TestClient`` enters it."""
    args.work_dir.mkdir(parents=True, exist_ok=True)
    prepare(args.work_dir, args.dataset, args.dataset_dir)
    from pulserec.service import create_app

    settings = settings_with(
        [*args.assignments, *extra], data_dir=args.work_dir, encoder=args.encoder,
        api_keys=f"{KEY}:ingest+read+admin",
    )  # fmt: skip
    users, items = population(args.work_dir)
    return create_app(settings), users, items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="ml-latest-small")
    parser.add_argument("--dataset-dir", type=Path, required=True)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/pulserec-route-profile"))
    parser.add_argument("--encoder", default="hashing")
    parser.add_argument("--n", type=int, default=1000, help="requests per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--set", dest="assignments", action="append", default=[],
                        metavar="NAME=VALUE", help="a setting, e.g. engine.sequential=false")
    args = parser.parse_args()  # fmt: skip

    app, users, _ = in_process_app(args)
    from fastapi.testclient import TestClient

    rng = random.Random(0)
    with TestClient(app):  # runs the lifespan: storage, models
        engine = app.state.runtime.engine
        paths = [f"/v1/users/{rng.choice(users)}/recommendations" for _ in range(args.n)]
        ids = [p.split("/")[3] for p in paths]

        def engine_alone() -> float:
            t0 = time.process_time()
            for user in ids:
                engine.recommend(user, 10)
            return (time.process_time() - t0) * 1000.0 / len(ids)

        async def run() -> None:
            for u in users:  # warm: every user's state restored once
                await call(app, f"/v1/users/{u}/recommendations", "k=10")
            figures: dict[str, list[float]] = {}
            for _ in range(args.rounds):
                figures.setdefault("route", []).append(await timed(app, paths, "k=10"))
                with inline_route():
                    inline = await timed(app, paths, "k=10")
                figures.setdefault("route, engine call inline", []).append(inline)
                figures.setdefault("Engine.recommend", []).append(engine_alone())
                figures.setdefault("GET /healthz", []).append(
                    await timed(app, ["/healthz"] * args.n)
                )
            print(f"CPU ms per request, median of {args.rounds} rounds of {args.n}:")
            for name, values in figures.items():
                print(f"  {name:<28} {statistics.median(values):6.3f}")
            spent: defaultdict[str, float] = defaultdict(float)
            with timing_parts(spent):
                total = engine_alone()
            print(f"Engine.recommend by part (wall ms per request; {total:.3f} CPU ms in all):")
            for label, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
                print(f"  {label:<28} {seconds * 1000.0 / len(ids):6.3f}")
            if args.profile:
                prof = cProfile.Profile()
                with inline_route():
                    prof.enable()
                    await timed(app, paths, "k=10")
                    prof.disable()
                pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(40)

        asyncio.run(run())


if __name__ == "__main__":
    main()
