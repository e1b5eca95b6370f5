"""Fitting the engine's models on the event log, and the one background trainer.

A refit fits every model on the log up to a cut near its end, replays the held-out
window through the real candidate sources and features to collect the choices users
actually made (:mod:`pulserec.engine.heldout`), fits the ranking weights on them
(:mod:`pulserec.engine.blend` fits and measures them), then fits again on the whole log
with those weights.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pulserec.catalog.idmap import IdMap
from pulserec.engine.arrays import unit_rows
from pulserec.engine.blend import (
    enough_to_rank,
    fit_blend,
    fit_segment_weights,
    paired_ndcg_gain,
    validation_quality,
)
from pulserec.engine.config import EngineConfig
from pulserec.engine.features import BLEND_NAMES, DEFAULT_WEIGHTS
from pulserec.engine.fold import Folder
from pulserec.engine.foldin import fit_text_map
from pulserec.engine.heldout import HeldOutReplay
from pulserec.engine.items import LiveItems
from pulserec.engine.mixture import Mixture, choose_mixture
from pulserec.engine.modelset import ModelSet, vector_index
from pulserec.engine.rank import Ranker
from pulserec.events.export import positive_events
from pulserec.events.interactions import Interactions
from pulserec.models.base import Recommender
from pulserec.models.covisit import covisitation
from pulserec.models.factor import ALS
from pulserec.online.attribution import listed_times as _listed_times
from pulserec.ranking import ChoiceData
from pulserec.storage.base import Storage, StoredEvent

log = logging.getLogger("pulserec.training")

EVENT_COLUMNS = ["user_id", "item_id", "type", "timestamp", "value", "text"]
EVENT_TYPES = {
    "user_id": "str", "item_id": "str", "type": "str", "timestamp": "float64",
    "value": "float64", "text": "str",
}  # fmt: skip
"""The columns' types in :func:`events_frame` (a missing value, item or text: NaN)."""


def events_frame(storage: Storage, window_s: float = 0.0) -> pd.DataFrame:
    """The log's events that are not spam, as a frame in log order (:data:`EVENT_TYPES`);
    with ``window_s`` > 0, only those at most that many seconds older than the newest one.

    A window reads only its events from storage (:meth:`Storage.newest_timestamp`, then
    ``events(since_ts=...)``), never the older log.
    """
    if window_s <= 0:
        return _frame(storage.events())
    for _ in range(WINDOW_READS):
        newest = storage.newest_timestamp()
        if newest is None:
            return _frame([])
        frame = _frame(storage.events(since_ts=newest - window_s))
        top = frame["timestamp"].max() if len(frame) else None
        if top is not None and top >= newest:
            if top > newest:  # newer events arrived during the read: their window
                frame = frame[frame["timestamp"] >= top - window_s].reset_index(drop=True)
            return frame
        # the newest event left the log meanwhile (its user was deleted): the window
        # reaches further back
    return frame


WINDOW_READS = 3
"""Reads of a window before :func:`events_frame` keeps the last one: another is needed
only when the newest event's user was deleted during the read."""


def _frame(stored: Iterable[StoredEvent]) -> pd.DataFrame:
    rows = [
        (e.user_id, e.item_id, e.type, e.timestamp, e.value, e.text)
        for s in stored
        if not s.spam
        for e in (s.event,)
    ]
    # the same types whichever rows were read: pandas makes a column of None alone objects
    return pd.DataFrame(rows, columns=EVENT_COLUMNS).astype(EVENT_TYPES)


FIT_LISTS = 1500
"""Choices from logged lists the held-out window is widened to hold (at most half of the
log's), where the log has lists: on MIND, 600 of them fitted noisy weights (AUC .603 on
the test impressions), 1,500 gave .615 and 3,000 .612."""

MIN_LISTS = 100
"""Choices from logged lists (impressions with a click) in the held-out window from which
the weights that score a given list (``Engine.score_items``: which of the shown items
will be taken) are fitted apart from those that rank the catalog: what was offered and
passed over says more about such a choice than candidates the user never saw."""


class Fitter:
    """Fits a :class:`ModelSet` from an event frame against the live catalog.

    ``lock`` guards the catalog, which a refit extends with item ids it meets in the
    log, against the serving threads.
    """

    def __init__(
        self,
        items: LiveItems,
        config: EngineConfig,
        folder: Folder,
        ranker: Ranker,
        lock: threading.RLock,
    ) -> None:
        self.items = items
        self.config = config
        self.folder = folder
        self.ranker = ranker
        self.lock = lock
        self.heldout = HeldOutReplay(items, config, folder, ranker)

    def fit(
        self,
        frame: pd.DataFrame,
        *,
        fit_weights_on_valid: bool = True,
        sequential: bool = True,
        previous: ModelSet | None = None,
    ) -> ModelSet:
        """Every model on ``frame``, with ranking weights fitted on its latest events.

        The held-out events also measure the ranking
        (:func:`~pulserec.engine.blend.validation_quality`): its Recall@10 and NDCG@10, and
        those of ``previous`` (the version serving now), go into the models' ``metrics``.
        """
        weights, metrics = DEFAULT_WEIGHTS.copy(), dict[str, float]()
        segment_weights: np.ndarray | None = None
        list_weights: np.ndarray | None = None
        early: ModelSet | None = None
        mixture: Mixture | None = None
        if fit_weights_on_valid and len(frame) >= 50:
            share = self.config.valid_fraction
            times = frame["timestamp"]
            listed = _listed_times(frame)
            if len(listed) >= 2 * MIN_LISTS:
                # the log holds shown lists: the held-out window holds enough of them to fit
                # a dozen weights (a list holds one or two choices, not one per event)
                times, share = listed, min(0.5, max(share, FIT_LISTS / len(listed)))
            cut = times.quantile(1.0 - share)
            before, after = frame[frame["timestamp"] < cut], frame[frame["timestamp"] >= cut]
            if len(before) and len(after):
                early = self.fit_models(before, DEFAULT_WEIGHTS, sequential)
                first = ChoiceData([], [])  # users' first choices before the window
                choices, lists = self.heldout.collect(early, before, after, first=first)
                ranks = None  # the kept choices' cross-fitted ranks, when the gate made them
                if early.sequential is not None and self.config.sequential_gate:
                    gated = self.gate_sequential(early, before, after, choices, lists)
                    choices, lists, gate, ranks = gated
                    sequential = sequential and gate["transformer_kept"] > 0
                    metrics |= gate
                weights, fitted = fit_blend(choices)
                metrics |= fitted
                metrics |= validation_quality(
                    choices, previous, self.config.random_state, ranks=ranks
                )
                segment_weights = fit_segment_weights(choices, weights, metrics, first=first)
                if self.config.crowd_mixture:
                    mixture = choose_mixture(
                        choices, weights, metrics, first=first,
                        random_state=self.config.random_state,
                    )  # fmt: skip
                if mixture is not None:  # it ranks better: its own expert replaces the rows
                    weights, segment_weights = mixture.own, None
                    # the validation figures are those of what serves
                    for key in ("recall@10", "ndcg@10"):
                        if key in metrics:
                            metrics[f"linear_{key}"] = metrics[key]
                        metrics[key] = metrics[f"mixture_{key}"]
                if len(lists) >= MIN_LISTS:
                    list_weights, _ = fit_blend(lists)
                    metrics["logged_lists"] = float(len(lists))
        # the transformer of the early fit may start the final one: fewer epochs to its best
        warm = early.sequential if early is not None and self.config.sequential_warm_start else None
        models = self.fit_models(frame, weights, sequential, warm=warm)
        models.segment_weights = segment_weights
        if mixture is not None:
            models.crowd_weights, models.crowd_share = mixture.crowd, mixture.share
        models.list_weights = list_weights
        models.metrics = {k: float(v) for k, v in metrics.items()}
        return models

    def fit_models(
        self,
        frame: pd.DataFrame,
        weights: np.ndarray,
        sequential: bool = True,
        *,
        warm: Recommender | None = None,
    ) -> ModelSet:
        """Factor model, co-visitation, popularity and (optionally) the transformer,
        started from ``warm`` (a transformer fitted on an earlier part of the log)."""
        cfg = self.config
        pos = positive_events(frame)
        with self.lock:
            self.items.ensure(pos["item_id"].astype(str).unique().tolist())
            n_items = len(self.items)
            item_map = IdMap(self.items.catalog.item_ids())
        inter = Interactions.from_events(pos, IdMap(), item_map)
        n_items = max(n_items, inter.n_items)
        matrix = sp.csr_matrix(inter.matrix, shape=(inter.n_users, n_items))
        inter = Interactions(
            matrix, inter.users, inter.items, inter.user_idx, inter.item_idx, inter.timestamp
        )
        if inter.nnz:
            user_f, item_f = self.fit_factors(pos, inter, item_map.to_list()[:n_items])
        else:
            user_f = np.zeros((inter.n_users, cfg.n_factors), np.float32)
            item_f = np.zeros((n_items, cfg.n_factors), np.float32)
        item_unit = unit_rows(item_f)
        popularity = np.asarray(matrix.sum(axis=0)).ravel().astype(np.float32)
        text_map = self.fit_text_map(item_f, popularity)
        cov = covisitation(
            inter.user_idx,
            inter.item_idx,
            inter.timestamp,
            n_items,
            window=cfg.covisit_window,
            top_n=cfg.covisit_top_n,
        )
        index = vector_index(item_unit, cfg.exact_threshold)
        seq_model = self.fit_sequential(inter, n_items, warm) if sequential else None
        now = time.time()
        # milliseconds: a server's first start fits twice within one second
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}"
        return ModelSet(
            f"{stamp}-{inter.nnz}", inter.users, n_items, user_f, item_f, item_unit, cov,
            popularity, np.asarray(weights, dtype=np.float64), index, time.time(),
            item_ids=item_map.to_list()[:n_items], sequential=seq_model,
            seq_items=np.arange(n_items, dtype=np.int64) if seq_model is not None else None,
            features=BLEND_NAMES, text_map=text_map,
        )  # fmt: skip

    def fit_text_map(self, item_f: np.ndarray, popularity: np.ndarray) -> np.ndarray | None:
        """The ridge map from text to factor vectors, on items with both (None: no
        encoder, or too few such items)."""
        if self.items.encoder is None:
            return None
        n = len(item_f)
        with self.lock:
            text = np.array(self.items.text[:n], dtype=np.float32)
            has = self.items.has_text[:n].copy()
        if len(has) < n:
            return None
        rows = has & (popularity[:n] > 0)
        return fit_text_map(text[rows], item_f[rows], self.config.random_state)

    def fit_factors(
        self, pos: pd.DataFrame, inter: Interactions, item_ids: list[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """User and item factors aligned with ``inter.users`` and ``item_ids``: fitted by
        implicit here, or by Spark from ``pos`` exported to Parquet
        (``factor_trainer``)."""
        cfg = self.config
        if cfg.factor_trainer == "spark":
            from pulserec.models.spark_als import SparkALS

            spark = SparkALS(
                n_factors=cfg.n_factors,
                regularization=cfg.spark_regularization,
                alpha=cfg.als_alpha,
                n_epochs=cfg.als_epochs,
                random_state=cfg.random_state,
                master=cfg.spark_master,
                work_dir=cfg.spark_dir or None,
            )
            return spark.fit_frame(pos, inter.users.to_list(), item_ids)
        if cfg.factor_trainer != "implicit":
            raise ValueError(
                f"factor_trainer: expected 'implicit' or 'spark', got {cfg.factor_trainer!r}"
            )
        als = ALS(
            n_factors=cfg.n_factors,
            regularization=cfg.als_regularization,
            alpha=cfg.als_alpha,
            n_epochs=cfg.als_epochs,
            random_state=cfg.random_state,
        ).fit(inter)
        return (
            np.asarray(als.user_factors_, dtype=np.float32),
            np.asarray(als.item_factors_, dtype=np.float32),
        )

    def fit_sequential(
        self, inter: Interactions, n_items: int, warm: Recommender | None = None
    ) -> Recommender | None:
        """The transformer on the positive events in time order, item text fused in."""
        cfg = self.config
        if not cfg.sequential or inter.nnz < cfg.sequential_min_events or n_items < 2:
            return None
        from pulserec.models.sequential import SequentialTransformer

        if self.items.encoder is not None:
            with self.lock:
                text = np.array(self.items.text[:n_items], dtype=np.float32)
            inter = inter.with_item_vectors(text)
        model = SequentialTransformer(**cfg.sequential_params)
        if isinstance(warm, SequentialTransformer) and warm.get_params() == model.get_params():
            model.warm_start(warm)
        return model.fit(inter)

    def gate_sequential(
        self,
        early: ModelSet,
        before: pd.DataFrame,
        after: pd.DataFrame,
        choices: ChoiceData,
        lists: ChoiceData,
    ) -> tuple[ChoiceData, ChoiceData, dict[str, float], np.ndarray | None]:
        """Whether the transformer ranks the held-out window better: the window replayed
        again without it (no candidate source, no feature), each ranked by blend weights
        cross-fitted on its own choices; it stays only when its NDCG@10 there is higher by
        more than one standard error of the paired difference (:func:`paired_ndcg_gain`).
        Returns the choices (and logged lists) to fit the weights on, those of the kept
        engine; metrics: ``ndcg@10_with_transformer``, ``ndcg@10_without_transformer``,
        ``ndcg@10_gain_se`` and ``transformer_kept`` (1 or 0); and the kept choices'
        cross-fitted ranks (None when too few choices to tell: then it is kept)."""
        plain = replace(early, sequential=None, seq_items=None, seq_space=None)
        plain_choices, plain_lists = self.heldout.collect(plain, before, after)
        if not (enough_to_rank(choices) and enough_to_rank(plain_choices)):
            return choices, lists, {"transformer_kept": 1.0}, None
        paired = paired_ndcg_gain(choices, plain_choices, self.config.random_state or 0)
        keep = paired.gain > paired.se
        metrics = {"ndcg@10_with_transformer": paired.ndcg_a,
                   "ndcg@10_without_transformer": paired.ndcg_b,
                   "ndcg@10_gain_se": paired.se, "transformer_kept": float(keep)}  # fmt: skip
        log.info("transformer %s: held-out NDCG@10 %.4f with, %.4f without (gain %.4f, "
                 "standard error %.4f)", "kept" if keep else "left out", paired.ndcg_a,
                 paired.ndcg_b, paired.gain, paired.se)  # fmt: skip
        if keep:
            return choices, lists, metrics, paired.ranks_a
        return plain_choices, plain_lists, metrics, paired.ranks_b


@dataclass
class TrainingRecord:
    """One refit: which version it produced, when, how long it took."""

    model_version: str
    trained_at: float
    seconds: float | None
    metrics: dict[str, float] = field(default_factory=dict)
    previous_version: str | None = None
    """The version that served before this one (its figures are ``previous_*`` metrics)."""

    @classmethod
    def of(cls, models: ModelSet, seconds: float | None = None) -> TrainingRecord:
        """The record of fitted or loaded ``models`` (``seconds``: how long the fit took)."""
        return cls(
            models.version, models.fitted_at, seconds, dict(models.metrics),
            models.previous_version,
        )  # fmt: skip


class Trainer:
    """Runs refits in a background thread, one at a time; serving goes on meanwhile.

    ``train`` is the refit itself (:meth:`Engine.train`): it swaps the new models in
    atomically when done. The guard is taken in the calling thread, so a second request
    right after the first is refused at once, and the record keeps how long each refit took.
    """

    def __init__(self, train: Callable[..., ModelSet]) -> None:
        self._train = train
        self._running = threading.Lock()
        self._thread: threading.Thread | None = None
        self.last: TrainingRecord | None = None
        self.last_error: str | None = None

    @property
    def training(self) -> bool:
        """Whether a refit is running now."""
        return self._running.locked()

    def start(self) -> bool:
        """Start a refit in the background; False when one is already running."""
        if not self._running.acquire(blocking=False):
            return False
        self._thread = threading.Thread(target=self._run, name="pulserec-train", daemon=True)
        self._thread.start()
        return True

    def run_now(self, *, sequential: bool | None = None) -> TrainingRecord:
        """Refit in the calling thread (server start); waits for a running refit first.

        ``sequential=False`` leaves the transformer out of this run (see
        :meth:`Engine.train`).
        """
        with self._running:
            return self._fit(sequential)

    def _fit(self, sequential: bool | None = None) -> TrainingRecord:
        t0 = time.perf_counter()
        models = self._train(sequential=sequential)
        record = TrainingRecord.of(models, time.perf_counter() - t0)
        self.last = record
        self.last_error = None
        log.info("trained models %s in %.2fs", record.model_version, record.seconds)
        return record

    def _run(self) -> None:
        try:
            self._fit()
        except Exception as exc:  # a failed refit must not take serving down; it is reported
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("background training failed")
        finally:
            self._running.release()

    def join(self, timeout: float | None = None) -> None:
        """Wait for a background refit to finish."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
