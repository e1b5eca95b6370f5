"""Implicit-feedback ALS fitted by Apache Spark MLlib, for logs beyond one machine.

Spark reads the event log exported to Parquet (:mod:`pulserec.events.export`), joins it
with the engine's id maps (written beside it), keeps one row per (user, item) pair with
its largest weight, and fits ``pyspark.ml.recommendation.ALS`` with implicit
preferences. The factors come back as float32 arrays aligned with the id maps, so the
artifacts are those of :class:`pulserec.models.factor.ALS` and serving, fold-in and
scoring do not change.

Two differences from implicit's ALS that the parameters account for:

- confidence: implicit gives an observed pair confidence ``alpha * w``, Spark
  ``1 + alpha * w``; with the export's weights of 1, Spark is run with ``alpha - 1``
  (at least 0) so both weigh an interaction alike.
- regularization: Spark multiplies its ``regParam`` by the number of interactions of
  each user (item) it solves (ALS-WR), implicit does not, so the two take different
  values: ``regularization`` here is Spark's.

pyspark and a Java runtime are needed only when a model is fitted (``pip install
"pulserec[spark]"``); nothing is imported or started before.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pulserec.events.export import export_events
from pulserec.events.interactions import Interactions
from pulserec.models.factor import ALS

DEFAULT_MASTER = "local[2]"

_sessions_lock = threading.Lock()


@contextmanager
def _quiet() -> Iterator[None]:
    # pyspark warns about pandas versions it was not tested with; the trainer never
    # converts to or from pandas (Parquet in, Arrow out).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*PySpark does not yet fully support")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="pyspark")
        yield


def spark_session(master: str = DEFAULT_MASTER, **conf: str) -> Any:
    """The process's Spark session on ``master``, started on first use.

    A session already running on another master is stopped first: one process drives
    one Spark application.
    """
    with _quiet():
        from pyspark.sql import SparkSession

        with _sessions_lock:
            active = SparkSession.getActiveSession()
            if active is not None and active.sparkContext.master != master:
                active.stop()
            builder = (
                SparkSession.builder.master(master)
                .appName("pulserec-als")
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")
            )
            for key, value in conf.items():
                builder = builder.config(key, value)
            session = builder.getOrCreate()
            session.sparkContext.setLogLevel("ERROR")
            return session


def spark_als_factors(
    events: str | Path,
    user_ids: Sequence[str],
    item_ids: Sequence[str],
    *,
    n_factors: int,
    regularization: float,
    alpha: float,
    n_epochs: int,
    random_state: int | None,
    master: str = DEFAULT_MASTER,
    n_blocks: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit Spark's implicit ALS on an export and return factors aligned with the id maps.

    Parameters
    ----------
    events : path
        A Parquet file (or folder) in :data:`pulserec.events.export.EXPORT_SCHEMA`. The
        id maps are written beside it, so on a cluster it must lie on storage every
        executor reads at the same path.
    user_ids, item_ids : sequence of str
        The dense index spaces: row ``u`` of the user factors is ``user_ids[u]``.
        Export rows whose ids are not in them are left out.
    n_factors, regularization, alpha, n_epochs, random_state
        As :class:`SparkALS`.
    master : str
        Spark master URL: ``local[N]``, ``spark://host:7077``, ``yarn``, ...
    n_blocks : int, optional
        Blocks users and items are each split into; default the cluster's parallelism.

    Returns
    -------
    user_factors : ndarray, shape (len(user_ids), n_factors), float32
    item_factors : ndarray, shape (len(item_ids), n_factors), float32
        Zero rows for ids without an interaction.
    """
    events = Path(events)
    folder = events.parent
    users_path = folder / "user_index.parquet"
    items_path = folder / "item_index.parquet"
    for path, ids, column in ((users_path, user_ids, "user"), (items_path, item_ids, "item")):
        pq.write_table(
            pa.table(
                {
                    f"{column}_id": pa.array(list(ids), pa.string()),
                    f"{column}_idx": pa.array(np.arange(len(ids), dtype=np.int32)),
                }
            ),
            path,
        )
    session = spark_session(master)
    with _quiet():
        from pyspark.ml.recommendation import ALS as MLlibALS
        from pyspark.sql import functions as F

        blocks = int(n_blocks or max(1, session.sparkContext.defaultParallelism))
        # the joins and the pair aggregation shuffle into as many partitions as ALS has
        # blocks: Spark's default of 200 costs seconds of task overhead on a small log
        session.conf.set("spark.sql.shuffle.partitions", str(blocks))
        log = session.read.parquet(str(events))
        pairs = (
            log.join(session.read.parquet(str(users_path)), "user_id")
            .join(session.read.parquet(str(items_path)), "item_id")
            .groupBy("user_idx", "item_idx")
            .agg(F.max("weight").alias("weight"))
        )
        als = MLlibALS(
            rank=int(n_factors),
            maxIter=int(n_epochs),
            regParam=float(regularization),
            implicitPrefs=True,
            alpha=max(float(alpha) - 1.0, 0.0),
            userCol="user_idx",
            itemCol="item_idx",
            ratingCol="weight",
            numUserBlocks=blocks,
            numItemBlocks=blocks,
            seed=0 if random_state is None else int(random_state),
        )
        model = als.fit(pairs)
        user_f = _aligned(model.userFactors.toArrow(), len(user_ids), int(n_factors))
        item_f = _aligned(model.itemFactors.toArrow(), len(item_ids), int(n_factors))
    return user_f, item_f


def _aligned(table: pa.Table, n_rows: int, n_factors: int) -> np.ndarray:
    """Spark's (id, features) rows as a dense array indexed by id; zeros where absent."""
    out = np.zeros((n_rows, n_factors), dtype=np.float32)
    if table.num_rows:
        idx = table.column("id").to_numpy()
        features = table.column("features").combine_chunks()
        values = features.flatten().to_numpy(zero_copy_only=False)
        out[idx] = values.reshape(-1, n_factors)
    return out


class SparkALS(ALS):
    """Implicit-feedback ALS fitted by Spark MLlib; scores and folds in as :class:`ALS`.

    Parameters
    ----------
    n_factors, n_epochs, random_state : as :class:`ALS`
    regularization : float
        Spark's ``regParam``, scaled by each user's (item's) interaction count.
    alpha : float
        Confidence of an interaction, in implicit's convention (see the module notes).
    master : str
        Spark master URL (``local[2]`` runs in this process on two cores).
    work_dir : str, optional
        Where the export and the id maps are written during a fit (a new temporary
        folder inside it, removed afterwards); default the system's temporary folder.
        On a cluster: a path every executor reads.

    Notes
    -----
    Fold-in of a new or changed history is :class:`ALS`'s exact user step with
    ``regularization`` as the ridge; a user's ridge in Spark grows with their history,
    so a folded-in vector is close to, not equal to, the one Spark learned.
    """

    name: ClassVar[str] = "spark-als"
    param_grid: ClassVar[dict[str, list[Any]]] = {"regularization": [0.05, 0.1, 0.2]}

    def __init__(
        self,
        n_factors: int = 64,
        regularization: float = 0.1,
        alpha: float = 2.0,
        n_epochs: int = 15,
        random_state: int | None = 0,
        master: str = DEFAULT_MASTER,
        work_dir: str | None = None,
    ) -> None:
        self.n_factors = n_factors
        self.regularization = regularization
        self.alpha = alpha
        self.n_epochs = n_epochs
        self.random_state = random_state
        self.master = master
        self.work_dir = work_dir

    def _fit(self, train: Interactions) -> None:
        user_ids, item_ids = train.users.to_list(), train.items.to_list()
        frame = pd.DataFrame(
            {
                "user_id": np.asarray(user_ids, dtype=object)[train.user_idx],
                "item_id": np.asarray(item_ids, dtype=object)[train.item_idx],
                "type": "click",
                "timestamp": train.timestamp,
            }
        )
        user_f, item_f = self.fit_frame(frame, user_ids, item_ids)
        self._store(user_f, item_f)

    def fit_frame(
        self, frame: pd.DataFrame, user_ids: Sequence[str], item_ids: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Export ``frame``'s positive events and fit on them; the factors, aligned with
        ``user_ids`` and ``item_ids`` (the model's own arrays are left as they are)."""
        if self.work_dir:
            Path(self.work_dir).mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="pulserec-spark-", dir=self.work_dir))
        try:
            path = export_events(frame, folder / "events.parquet")
            return spark_als_factors(
                path,
                user_ids,
                item_ids,
                n_factors=self.n_factors,
                regularization=self.regularization,
                alpha=self.alpha,
                n_epochs=self.n_epochs,
                random_state=self.random_state,
                master=self.master,
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
