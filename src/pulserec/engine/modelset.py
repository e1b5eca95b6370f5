"""Everything one training run fits, saved and loaded as ``.npz`` + a JSON manifest."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from pulserec.catalog.idmap import IdMap
from pulserec.engine.arrays import unit_rows
from pulserec.engine.segments import NAMES as SEGMENT_NAMES
from pulserec.engine.seqspace import SeqSpace
from pulserec.index.approximate import ApproximateIndex
from pulserec.index.ivf import IVFIndex
from pulserec.manifest import read_manifest, require_file, write_manifest
from pulserec.models.base import Recommender
from pulserec.ranking import weights_for

FORMAT = "pulserec-engine-models"


@dataclass
class ModelSet:
    """Everything fitted at one training run; replaced whole, never mutated.

    ``features`` names the ranking features ``weights`` belong to, in order.
    """

    version: str
    users: IdMap
    n_items: int
    user_factors: np.ndarray
    item_factors: np.ndarray
    item_unit: np.ndarray
    covisit: sp.csr_matrix
    popularity: np.ndarray
    weights: np.ndarray
    cf_index: ApproximateIndex
    fitted_at: float
    metrics: dict[str, float] = field(default_factory=dict)
    item_ids: list[str] = field(default_factory=list)
    """Raw id of each model item index: loading remaps onto the catalog's order."""
    sequential: Recommender | None = None
    """The sequential transformer (a ``SequentialTransformer``), when one was fitted."""
    seq_items: np.ndarray | None = None
    """For each model item index, the transformer's item index (-1: none)."""
    features: tuple[str, ...] = ()
    segment_weights: np.ndarray | None = None
    """Ranking weights per history segment, one row each (:mod:`pulserec.engine.segments`;
    None: ``weights`` for every user)."""
    list_weights: np.ndarray | None = None
    """Weights that score a given list of items, fitted on logged lists (None: ``weights``)."""
    previous_version: str | None = None
    """The version that served when this one was fitted (None: the first)."""
    text_map: np.ndarray | None = None
    """A ridge map from item text vectors to factor vectors, fitted on the items with
    training events (None: no text): the prior of an item that has none."""
    seq_space: SeqSpace | None = None
    """The transformer's item vectors by catalog index, their moments and index: built
    here from ``sequential`` and ``seq_items`` unless given (copies that keep the items)."""
    crowd_weights: np.ndarray | None = None
    """The crowd's expert of the two-expert blend (:mod:`pulserec.engine.mixture`; None:
    the linear blend alone), laid out as ``weights``, which then hold the own expert's."""
    crowd_share: float = 0.0
    """The crowd's share of the two-expert blend."""

    def __post_init__(self) -> None:
        model = self.sequential
        if self.seq_space is None and model is not None and self.seq_items is not None:
            table = model.serving_table()  # type: ignore[attr-defined]
            self.seq_space = SeqSpace.build(table, self.seq_items, self.cf_index.exact_threshold)

    def fresh(self, items: np.ndarray) -> np.ndarray:
        """Which of ``items`` have no fitted factor vector (no training event)."""
        out = np.ones(len(items), dtype=bool)
        inside = items < self.n_items
        out[inside] = self.popularity[items[inside]] == 0
        return out

    @property
    def dim(self) -> int:
        return int(self.item_unit.shape[1])

    def long_term(self, user_id: str) -> np.ndarray | None:
        """The user's factor vector, or None for a user the models were not fitted on."""
        if user_id not in self.users:
            return None
        return self.user_factors[self.users.idx(user_id)]  # type: ignore[no-any-return]

    def without_user(self, user_id: str) -> ModelSet:
        """The same models with no trace of ``user_id`` (their id and factor row)."""
        if user_id not in self.users:
            return self
        row = self.users.idx(user_id)
        ids = self.users.to_list()
        del ids[row]
        return replace(
            self, users=IdMap(ids), user_factors=np.delete(self.user_factors, row, axis=0)
        )

    def save(self, directory: Path) -> Path:
        """Write ``models.npz`` and ``manifest.json`` (no pickle) into ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        cov = self.covisit
        np.savez(
            directory / "models.npz",
            user_factors=self.user_factors,
            item_factors=self.item_factors,
            covisit_data=cov.data,
            covisit_indices=cov.indices,
            covisit_indptr=cov.indptr,
            popularity=self.popularity,
            weights=self.weights,
            segment_weights=(
                self.segment_weights if self.segment_weights is not None else np.zeros((0, 0))
            ),
            list_weights=self.list_weights if self.list_weights is not None else np.zeros(0),
            seq_items=self.seq_items if self.seq_items is not None else np.zeros(0, np.int64),
            text_map=self.text_map if self.text_map is not None else np.zeros((0, 0)),
            crowd_weights=(self.crowd_weights if self.crowd_weights is not None else np.zeros(0)),
        )
        if self.sequential is not None:
            self.sequential.save(directory / "sequential")
        fields = {
            "version": self.version,
            "n_items": self.n_items,
            "users": self.users.to_list(),
            "features": list(self.features),
            "fitted_at": self.fitted_at,
            "metrics": self.metrics,
            "items": self.item_ids,
            "sequential": self.sequential is not None,
            "previous_version": self.previous_version,
            "crowd_share": self.crowd_share,
        }
        # the manifest appears last, whole; one line, since it holds every user id
        write_manifest(directory, fields, format=FORMAT, format_version=1, indent=None)
        return directory

    @classmethod
    def load(
        cls, directory: Path, features: tuple[str, ...], exact_threshold: int = 20_000
    ) -> ModelSet:
        """Read saved models, their ranking weights laid out for today's ``features``."""
        manifest = read_manifest(
            directory, format=FORMAT, versions=(1,),
            required=("version", "n_items", "users", "fitted_at"),
        )  # fmt: skip
        n = int(manifest["n_items"])
        with np.load(
            require_file(directory, "models.npz", "the model arrays"), allow_pickle=False
        ) as z:
            cov = sp.csr_matrix(
                (z["covisit_data"], z["covisit_indices"], z["covisit_indptr"]), shape=(n, n)
            )
            item_f = z["item_factors"]
            arrays = {k: z[k] for k in ("user_factors", "popularity", "weights")}
            seq_items = z["seq_items"] if "seq_items" in z.files else None
            segments = z["segment_weights"] if "segment_weights" in z.files else np.zeros((0, 0))
            cold = z["cold_weights"] if "cold_weights" in z.files else np.zeros(0)
            listed = z["list_weights"] if "list_weights" in z.files else np.zeros(0)
            text_map = z["text_map"] if "text_map" in z.files else np.zeros((0, 0))
            crowd = z["crowd_weights"] if "crowd_weights" in z.files else np.zeros(0)
        # models saved before the list was written ranked with the first six features
        saved = list(manifest.get("features", features[: len(arrays["weights"])]))
        weights = weights_for(saved, arrays["weights"], features)
        segment_weights = _segment_weights(saved, segments, cold, weights, features)
        list_weights = weights_for(saved, listed, features) if len(listed) else None
        sequential = None
        if manifest.get("sequential"):
            sequential = Recommender.load(directory / "sequential")
            if seq_items is None or len(seq_items) != n:
                raise ValueError(f"{directory}/models.npz: seq_items missing or not {n} long")
        item_unit = unit_rows(item_f)
        index = vector_index(item_unit, exact_threshold)
        return cls(
            str(manifest["version"]), IdMap(manifest["users"]), n, arrays["user_factors"], item_f,
            item_unit, cov, arrays["popularity"], weights, index,
            float(manifest["fitted_at"]), dict(manifest.get("metrics", {})),
            list(manifest.get("items", [])), sequential,
            seq_items if sequential is not None else None, tuple(features), segment_weights,
            list_weights, manifest.get("previous_version"),
            text_map if text_map.size else None, None,
            weights_for(saved, crowd, features) if len(crowd) else None,
            float(manifest.get("crowd_share", 0.0)) if len(crowd) else 0.0,
        )  # fmt: skip

    def aligned_to(self, positions: np.ndarray, n_items: int, exact_threshold: int) -> ModelSet:
        """The same models with item ``i`` moved to index ``positions[i]`` of ``n_items``."""
        pos = np.asarray(positions, dtype=np.int64)
        if len(pos) == n_items and np.array_equal(pos, np.arange(n_items)):
            return self
        item_f = np.zeros((n_items, self.item_factors.shape[1]), np.float32)
        item_f[pos] = self.item_factors
        pop = np.zeros(n_items, np.float32)
        pop[pos] = self.popularity
        move = sp.csr_matrix(
            (np.ones(len(pos), np.float32), (np.arange(len(pos)), pos)), shape=(len(pos), n_items)
        )
        cov = sp.csr_matrix(move.T @ self.covisit @ move)
        cov.sort_indices()
        unit = unit_rows(item_f)
        index = vector_index(unit, exact_threshold)
        ids = [""] * n_items
        for old, new in enumerate(pos.tolist()):
            ids[new] = self.item_ids[old] if old < len(self.item_ids) else ""
        seq_items = None
        if self.seq_items is not None:
            seq_items = np.full(n_items, -1, dtype=np.int64)
            seq_items[pos] = self.seq_items
        return replace(
            self, n_items=n_items, item_factors=item_f, item_unit=unit, covisit=cov,
            popularity=pop, cf_index=index, item_ids=ids, seq_items=seq_items, seq_space=None,
        )  # fmt: skip


def scrub_user(directory: Path, user_id: str) -> bool:
    """Rewrite a saved version without ``user_id``: its manifest entry and factor row.

    Both files are written anew beside the old ones and then replace them (the arrays
    first, the manifest last), so a reader sees the old version or the scrubbed one.
    Returns False when the version does not hold the user.
    """
    manifest = read_manifest(directory, format=FORMAT, versions=(1,), required=("users",))
    users: list[str] = list(manifest["users"])
    if user_id not in users:
        return False
    row = users.index(user_id)
    del users[row]
    path = require_file(directory, "models.npz", "the model arrays")
    with np.load(path, allow_pickle=False) as z:
        arrays = {name: z[name] for name in z.files}
    arrays["user_factors"] = np.delete(arrays["user_factors"], row, axis=0)
    tmp = directory / "models.tmp.npz"
    np.savez(tmp, **arrays)
    tmp.replace(path)
    fields = {k: v for k, v in manifest.items() if k not in ("format", "format_version")}
    fields["users"] = users
    write_manifest(directory, fields, format=FORMAT, format_version=1, indent=None)
    return True


def saved_versions(directory: Path) -> list[Path]:
    """The complete versions saved in an artifacts ``directory`` (those with a manifest),
    oldest first."""
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if (p / "manifest.json").is_file()]
    return sorted(found, key=lambda p: p.name)


def vector_index(unit: np.ndarray, exact_threshold: int) -> ApproximateIndex:
    """An index over the rows of ``unit`` that have a vector (zero rows are left out)."""
    index = IVFIndex(unit.shape[1], exact_threshold=exact_threshold)
    live = np.flatnonzero(np.linalg.norm(unit, axis=1) > 0)
    index.add(live, unit[live])
    return index


def write_current(directory: Path, version: str) -> None:
    """Point ``directory/current.json`` at ``version`` (atomically)."""
    tmp = directory / "current.json.tmp"
    tmp.write_text(json.dumps({"version": version}))
    tmp.replace(directory / "current.json")


def read_current(directory: Path) -> str | None:
    """The version ``directory/current.json`` points at, or None when there is none."""
    current = directory / "current.json"
    if not current.is_file():
        return None
    return str(json.loads(current.read_text())["version"])


def _segment_weights(
    saved: list[str],
    rows: np.ndarray,
    cold: np.ndarray,
    weights: np.ndarray,
    features: tuple[str, ...],
) -> np.ndarray | None:
    """Saved per-segment weights laid out for ``features``; models saved with weights for
    users without events only (``cold``) rank the other segments with ``weights``."""
    if len(rows):
        return np.stack([weights_for(saved, row, features) for row in rows])
    if len(cold):
        out = np.tile(weights, (len(SEGMENT_NAMES), 1))
        out[0] = weights_for(saved, cold, features)
        return out
    return None
