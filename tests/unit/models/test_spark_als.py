"""The factor model fitted by Spark MLlib (``local[2]``): factors aligned with the engine's
id maps, recommendations that follow two clear clusters, artifacts an engine serves.

Needs pyspark (the dev extra) and a Java runtime (``make system-deps``); it fails
rather than skips without them, as CI must run it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pulserec.catalog.idmap import IdMap
from pulserec.engine import Engine
from pulserec.events.interactions import Interactions
from pulserec.models.factor import ALS
from pulserec.models.spark_als import SparkALS
from pulserec.storage import open_storage
from pulserec.text import make_encoder

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from shop import CFG, catalog, history

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def _stop_spark() -> Iterator[None]:
    """One JVM for the module's fits, gone before the rest of the suite runs."""
    yield
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is not None:
        session.stop()


def two_clusters(seed: int = 0) -> tuple[Interactions, np.ndarray]:
    """40 users in two groups, each touching 6 of its group's 12 items; the id maps list
    users and items in an order unrelated to the groups. Returns the interactions and
    each user index's group."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(40):
        for j in rng.choice(12, 6, replace=False):
            rows.append((f"u{u}", f"g{u % 2}-i{j}", float(len(rows))))
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    users = IdMap(f"u{u}" for u in rng.permutation(40))
    items = IdMap(
        f"g{g}-i{j}" for g, j in rng.permutation([(g, j) for g in (0, 1) for j in range(12)])
    )
    inter = Interactions.from_events(events, users, items)
    group = np.array([int(uid[1:]) % 2 for uid in users.to_list()])
    return inter, group


def test_spark_als_recommends_each_user_their_own_cluster_like_implicit() -> None:
    inter, group = two_clusters()
    item_group = np.array([int(iid[1]) for iid in inter.items.to_list()])
    # two clusters, two factors
    spark = SparkALS(n_factors=2, n_epochs=10, regularization=0.1).fit(inter)
    assert spark.user_factors_.shape == (40, 2) and spark.item_factors_.shape == (24, 2)
    assert spark.user_factors_.dtype == np.float32
    top, _ = spark.recommend(np.arange(40), 3)  # unseen items only
    assert (item_group[top] == group[:, None]).all()
    # the answer implicit's ALS gives on the same data
    ref = ALS(n_factors=2, n_epochs=10, regularization=0.1).fit(inter)
    assert (item_group[ref.recommend(np.arange(40), 3)[0]] == group[:, None]).all()


def test_engine_refit_on_spark_writes_artifacts_another_engine_serves(tmp_path: Path) -> None:
    cfg = replace(CFG, sequential=False, factor_trainer="spark", spark_dir=str(tmp_path / "x"))
    url = f"sqlite:///{tmp_path}/p.db"
    first = Engine(open_storage(url), make_encoder("hashing"), cfg, artifacts_dir=tmp_path / "a")
    first.upsert_items(catalog())
    first.bootstrap(history())
    models = first.train()
    first.storage.close()
    # factors aligned with the engine's maps: each user's best-scored items are of the
    # user's own topic (even users jazz, odd ones hiking)
    topic = np.array([iid.split("-")[0] for iid in models.item_ids])
    users = models.users.to_list()
    scores = models.user_factors @ models.item_factors.T
    best = np.argsort(-scores, axis=1)[:, :5]
    want = np.where([int(uid[1:]) % 2 == 0 for uid in users], "jazz", "hiking")
    assert (topic[best] == want[:, None]).all()
    assert list((tmp_path / "x").iterdir()) == []  # the export is removed after the fit

    second = Engine(open_storage(url), make_encoder("hashing"), cfg, artifacts_dir=tmp_path / "a")
    second.load_from_storage()
    loaded = second.load_latest_models()
    assert loaded is not None and loaded.version == models.version
    np.testing.assert_array_equal(loaded.user_factors, models.user_factors)
    for uid, t in (("u0", "jazz"), ("u1", "hiking")):
        rec = second.recommend(uid, 5)
        assert [s.item_id.split("-")[0] for s in rec.items] == [t] * 5
    second.storage.close()
