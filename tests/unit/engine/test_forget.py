"""Deleting a user leaves no read path that can tell they existed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from shop import CFG, catalog, history

from pulserec.engine import Engine, ModelSet
from pulserec.storage import open_storage
from pulserec.text import make_encoder
from pulserec.types import Event

WHO = "zz-forget-me-42"


def build(tmp_path: Path) -> Engine:
    eng = Engine(
        open_storage(f"sqlite:///{tmp_path}/p.db"), make_encoder("hashing"), CFG,
        artifacts_dir=tmp_path / "artifacts",
    )  # fmt: skip
    return eng


def seeded(tmp_path: Path) -> Engine:
    eng = build(tmp_path)
    eng.upsert_items(catalog())
    mine = [Event(WHO, f"jazz-{j}", "click", 1_000.0 + j) for j in range(12)]
    eng.bootstrap([*history(), *mine])
    eng.train()
    eng.train()  # two saved versions, both with the user
    return eng


def listing(eng: Engine, user_id: str) -> list[tuple[str, float, str]]:
    return [(s.item_id, round(s.score, 6), s.reason) for s in eng.recommend(user_id, 10).items]


def files_holding(folder: Path, needle: bytes) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_a_deleted_user_gets_the_list_of_a_user_never_seen(tmp_path: Path) -> None:
    eng = seeded(tmp_path)
    assert eng.models is not None and WHO in eng.models.users
    assert listing(eng, WHO) != listing(eng, "never-seen")  # personal before
    assert WHO in eng.factor_cache.cached_users
    assert files_holding(tmp_path / "artifacts", WHO.encode())
    assert eng.delete_user(WHO) == 12
    assert WHO not in eng.models.users and eng.interests(WHO) is None
    assert WHO not in eng.factor_cache.cached_users
    assert listing(eng, WHO) == listing(eng, "never-seen")
    assert files_holding(tmp_path / "artifacts", WHO.encode()) == []
    eng.storage.close()

    again = build(tmp_path)  # a restart reads the scrubbed versions
    again.load_from_storage()
    models = again.load_latest_models()
    assert models is not None and WHO not in models.users
    assert listing(again, WHO) == listing(again, "never-seen")
    # the user's factor row left with their id: everyone else keeps theirs
    for user_id in ("u0", "u7"):
        np.testing.assert_array_equal(models.long_term(user_id), eng.models.long_term(user_id))


def test_a_user_deleted_during_a_refit_is_not_in_what_it_saves(tmp_path: Path) -> None:
    eng = seeded(tmp_path)
    fit = eng.fitter.fit

    def fit_then_delete(*args: object, **kwargs: object) -> ModelSet:
        models = fit(*args, **kwargs)  # type: ignore[arg-type]
        assert WHO in models.users
        eng.delete_user(WHO)  # arrives while the refit is still running
        return models

    eng.fitter.fit = fit_then_delete  # type: ignore[method-assign]
    models = eng.train()
    assert WHO not in models.users and eng.models is models
    assert files_holding(tmp_path / "artifacts", WHO.encode()) == []


def test_a_worker_mid_refit_leaves_out_a_user_another_process_deleted(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """The worker and an API process share one Redis: a deletion made by the API process
    while the worker fits reaches neither the worker's models nor its saved version."""
    url = f"{redis_url}?prefix={redis_prefix}"
    worker = Engine(open_storage(url), None, CFG, artifacts_dir=tmp_path / "artifacts")
    api = Engine(open_storage(url), None, CFG, artifacts_dir=tmp_path / "artifacts")
    worker.upsert_items(catalog())
    mine = [Event(WHO, f"jazz-{j}", "click", 1_000.0 + j) for j in range(12)]
    worker.bootstrap([*history(), *mine])
    fit = worker.fitter.fit

    def fit_while_the_api_deletes(*args, **kwargs):  # type: ignore[no-untyped-def]
        models = fit(*args, **kwargs)
        assert WHO in models.users  # fitted on a log that still held the user
        api.delete_user(WHO)
        return models

    worker.fitter.fit = fit_while_the_api_deletes  # type: ignore[method-assign]
    models = worker.train()
    assert WHO not in models.users and "u0" in models.users
    assert files_holding(tmp_path / "artifacts", WHO.encode()) == []
    again = ModelSet.load(tmp_path / "artifacts" / models.version, models.features)
    assert WHO not in again.users
    worker.storage.close()
    api.storage.close()
