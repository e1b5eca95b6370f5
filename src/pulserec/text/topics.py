"""Topics of a catalog: k-means on item embeddings, each cluster named by its keywords.

:func:`fit_topics` clusters the items' text embeddings with k-means (k-means++ seeding,
several seeded restarts, the lowest inertia kept) and names each topic in two steps:

1. **class-based tf-idf** over the candidate phrases of the topic's item texts (a phrase's
   share of the topic's documents, times ``log(1 + A / f)`` with ``A`` the mean number of
   phrases per topic and ``f`` the phrase's count over all topics), which keeps the phrases
   that are frequent in this topic and rare elsewhere;
2. when an encoder is given, MMR over the tf-idf shortlist (relevance = the tf-idf weight,
   redundancy = cosine between phrase embeddings) drops near-synonyms, so the label says what
   the cluster is about in a few *different* words. (Ranking by cosine to the centroid was
   tried on MovieLens and was worse: words close to every centroid, such as "documentary",
   labelled many topics.)

Examples
--------
>>> import numpy as np
>>> vectors = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], dtype=np.float32)
>>> texts = ["red shoes", "red boots", "green tea", "green matcha tea"]
>>> topics = fit_topics(vectors, texts, n_topics=2, random_state=0)
>>> sorted(topics.labels)
['green, tea, green tea', 'red, shoes, red shoes']
>>> topics.assign(np.array([[1.0, 0.0]])).tolist() == [topics.assign(vectors[:1])[0]]
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import scipy.sparse as sp

from pulserec.manifest import read_manifest, require_file, write_manifest
from pulserec.text.base import TextEncoder
from pulserec.text.keywords import candidate_phrases, mmr_select

TOPICS_FORMAT: Final[str] = "pulserec-topics"
TOPICS_FORMAT_VERSION: Final[int] = 1


@dataclass
class Topics:
    """Fitted topics: one centroid and one keyword list per topic.

    Attributes
    ----------
    centroids : ndarray, shape (n_topics, dim), float32
        Unit-norm mean direction of each topic's items.
    keywords : list of list of str
        Each topic's label phrases, best first.
    sizes : ndarray of int64
        Number of fitted items per topic.
    random_state : int or None
        The seed the topics were fitted with.
    """

    centroids: np.ndarray
    keywords: list[list[str]]
    sizes: np.ndarray
    random_state: int | None = None

    @property
    def n_topics(self) -> int:
        """Number of topics."""
        return int(self.centroids.shape[0])

    @property
    def labels(self) -> list[str]:
        """One readable label per topic: its first three keywords joined by commas."""
        return [", ".join(words[:3]) for words in self.keywords]

    def assign(self, vectors: np.ndarray) -> np.ndarray:
        """The nearest topic (highest cosine to its centroid) of each vector.

        Parameters
        ----------
        vectors : ndarray, shape (n, dim)
            Embeddings from the encoder the topics were fitted on.

        Returns
        -------
        ndarray of int64, shape (n,)
        """
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.centroids.shape[1]:
            raise ValueError(
                f"vectors: expected shape (n, {self.centroids.shape[1]}), got {vectors.shape}"
            )
        return np.asarray(np.argmax(vectors @ self.centroids.T, axis=1), dtype=np.int64)

    def save(self, path: str | Path) -> Path:
        """Write ``topics.npz`` (centroids, sizes) and ``manifest.json`` (keywords) to ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        np.savez(path / "topics.npz", centroids=self.centroids, sizes=self.sizes)
        manifest = {
            "n_topics": self.n_topics,
            "dim": int(self.centroids.shape[1]),
            "random_state": self.random_state,
            "keywords": self.keywords,
        }
        write_manifest(path, manifest, format=TOPICS_FORMAT, format_version=TOPICS_FORMAT_VERSION)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Topics:
        """Read topics written by :meth:`save` (no pickle)."""
        manifest = read_manifest(
            path, format=TOPICS_FORMAT, versions=(TOPICS_FORMAT_VERSION,), required=("keywords",)
        )
        npz_path = require_file(path, "topics.npz", "the topic centroids")
        with np.load(npz_path, allow_pickle=False) as z:
            centroids, sizes = z["centroids"], z["sizes"]
        return cls(centroids, [list(k) for k in manifest["keywords"]], sizes,
                   manifest.get("random_state"))


def kmeans(
    vectors: np.ndarray,
    n_clusters: int,
    *,
    random_state: int | None = 0,
    n_init: int = 4,
    max_iter: int = 100,
    tol: float = 1e-6,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Lloyd's k-means with k-means++ seeding; the best of ``n_init`` seeded restarts.

    Parameters
    ----------
    vectors : ndarray, shape (n, dim)
    n_clusters : int
        Between 1 and ``n``.
    random_state : int or None
        Seed of the restarts; equal seeds give equal results.
    n_init, max_iter, tol
        Restarts, iterations per restart, and the relative inertia change that stops one.

    Returns
    -------
    centroids : ndarray, shape (n_clusters, dim), float64
    labels : ndarray of int64, shape (n,)
    inertia : float
        Sum of squared distances of the points to their centroid.

    Examples
    --------
    >>> x = np.array([[0.0], [0.1], [10.0], [10.1]])
    >>> centroids, labels, _ = kmeans(x, 2, random_state=1)
    >>> bool(labels[0] == labels[1] != labels[2] == labels[3])
    True
    """
    x = np.asarray(vectors, dtype=np.float64)
    n = x.shape[0]
    if not 1 <= n_clusters <= n:
        raise ValueError(f"n_clusters: expected 1..{n} (the number of vectors), got {n_clusters}")
    rng = np.random.default_rng(random_state)
    sq_norms = np.einsum("ij,ij->i", x, x)
    best: tuple[np.ndarray, np.ndarray, float] | None = None
    for _ in range(max(1, n_init)):
        centroids = _kmeans_pp(x, sq_norms, n_clusters, rng)
        previous = np.inf
        for _ in range(max_iter):
            dist = _sq_distances(x, sq_norms, centroids)
            labels = np.argmin(dist, axis=1)
            closest = dist[np.arange(n), labels]
            inertia = float(closest.sum())
            counts = np.bincount(labels, minlength=n_clusters)
            member = sp.csr_matrix(
                (np.ones(n), (labels, np.arange(n))), shape=(n_clusters, n)
            )
            sums = np.asarray(member @ x)
            empty = np.flatnonzero(counts == 0)
            if len(empty):
                # An empty cluster restarts on the points worst served by their centroid.
                far = np.argsort(-closest)[: len(empty)]
                sums[empty], counts[empty] = x[far], 1
            centroids = sums / counts[:, None]
            if previous - inertia <= tol * max(previous, 1e-12) and not len(empty):
                break
            previous = inertia
        dist = _sq_distances(x, sq_norms, centroids)
        labels = np.argmin(dist, axis=1)
        inertia = float(dist[np.arange(n), labels].sum())
        if best is None or inertia < best[2]:
            best = (centroids, labels.astype(np.int64), inertia)
    assert best is not None  # n_init >= 1
    return best


def _sq_distances(x: np.ndarray, sq_norms: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    dist = sq_norms[:, None] - 2.0 * (x @ centroids.T) + np.einsum("ij,ij->i", centroids,
                                                                     centroids)[None, :]
    return np.asarray(np.maximum(dist, 0.0))


def _kmeans_pp(
    x: np.ndarray, sq_norms: np.ndarray, k: int, rng: np.random.Generator
) -> np.ndarray:
    """k-means++: each next seed drawn with probability proportional to squared distance."""
    n = x.shape[0]
    centroids = np.empty((k, x.shape[1]))
    centroids[0] = x[rng.integers(n)]
    closest = _sq_distances(x, sq_norms, centroids[:1])[:, 0]
    for j in range(1, k):
        total = closest.sum()
        pick = rng.choice(n, p=closest / total) if total > 0 else rng.integers(n)
        centroids[j] = x[pick]
        np.minimum(closest, _sq_distances(x, sq_norms, centroids[j : j + 1])[:, 0], out=closest)
    return centroids


def class_tfidf(
    texts: Sequence[str],
    labels: np.ndarray,
    n_classes: int,
    *,
    max_ngram: int = 2,
    max_df: float = 1.0,
) -> tuple[sp.csr_matrix, list[str]]:
    """Class-based tf-idf of candidate phrases: one row per class, one column per phrase.

    A phrase counts once per document it occurs in. Within a class, term frequency is the
    phrase's count over the class's total; the weight is ``tf * log(1 + A / f)``, ``A`` the
    mean phrase count per class and ``f`` the phrase's count over all classes. Phrases in
    more than ``max_df`` of all documents get weight 0 (corpus-wide filler names no topic).

    Returns
    -------
    weights : csr_matrix, shape (n_classes, n_phrases), float64
    vocabulary : list of str
        The phrase of each column.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) != len(texts):
        raise ValueError(f"labels: expected {len(texts)} entries (one per text), got {len(labels)}")
    vocab: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    for row, text in enumerate(texts):
        # n-grams, not noun phrases: the counts need the single words inside longer phrases
        # ("tea" of "green tea shop") to find what a whole cluster shares, and tagging every
        # text of a large catalog would cost more than the labels gain.
        for phrase in candidate_phrases(
            text, max_ngram=max_ngram, max_candidates=None, candidates="ngrams"
        ):
            rows.append(row)
            cols.append(vocab.setdefault(phrase, len(vocab)))
    docs = sp.csr_matrix(
        (np.ones(len(rows)), (rows, cols)), shape=(len(texts), len(vocab)), dtype=np.float64
    )
    member = sp.csr_matrix(
        (np.ones(len(labels)), (labels, np.arange(len(labels)))), shape=(n_classes, len(texts))
    )
    counts = sp.csr_matrix(member @ docs)
    class_totals = np.asarray(counts.sum(axis=1)).ravel()
    term_totals = np.asarray(counts.sum(axis=0)).ravel()
    mean_total = class_totals.mean() if n_classes else 0.0
    idf = np.log1p(mean_total / np.maximum(term_totals, 1.0))
    tf = sp.diags(1.0 / np.maximum(class_totals, 1.0)) @ counts
    idf[term_totals > max_df * len(texts)] = 0.0
    weights = sp.csr_matrix(tf @ sp.diags(idf))
    weights.eliminate_zeros()
    weights.sort_indices()  # ties between phrases then break by first appearance
    return weights, list(vocab)


def fit_topics(
    item_embeddings: np.ndarray,
    item_texts: Sequence[str],
    n_topics: int,
    encoder: TextEncoder | None = None,
    random_state: int | None = 0,
    *,
    n_keywords: int = 5,
    shortlist: int = 30,
    diversity: float = 0.3,
    max_df: float = 0.5,
    n_init: int = 4,
) -> Topics:
    """Cluster items by their text embeddings and label each cluster with keywords.

    Parameters
    ----------
    item_embeddings : ndarray, shape (n_items, dim)
        Unit-norm embeddings of the item texts (the catalog's vectors).
    item_texts : sequence of str
        The texts, aligned with the embeddings; their phrases become the labels.
    n_topics : int
        Number of clusters.
    encoder : TextEncoder, optional
        The encoder of ``item_embeddings``. When given, each topic's tf-idf shortlist is
        diversified with MMR over the phrase embeddings; without it, labels are the top
        tf-idf phrases.
    random_state : int or None
        Seed of k-means.
    n_keywords : int
        Keywords kept per topic.
    shortlist : int
        Top tf-idf phrases per topic that MMR chooses from.
    diversity : float
        MMR diversity of the re-ranking.
    max_df : float
        Phrases in more than this share of all item texts never label a topic.
    n_init : int
        k-means restarts.

    Returns
    -------
    Topics
    """
    x = np.asarray(item_embeddings, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] != len(item_texts):
        raise ValueError(
            f"item_embeddings: expected shape ({len(item_texts)}, dim) to match item_texts, "
            f"got {x.shape}"
        )
    if encoder is not None and encoder.dim != x.shape[1]:
        raise ValueError(
            f"encoder: {encoder.name!r} makes {encoder.dim}-d vectors, the item embeddings are "
            f"{x.shape[1]}-d; pass the encoder that embedded the items"
        )
    centroids, labels, _ = kmeans(x, n_topics, random_state=random_state, n_init=n_init)
    norms = np.linalg.norm(centroids, axis=1, keepdims=True)
    unit = (centroids / np.where(norms > 0, norms, 1.0)).astype(np.float32)
    weights, vocab = class_tfidf(item_texts, labels, n_topics, max_df=max_df)
    shortlists: list[list[str]] = []
    relevance: list[np.ndarray] = []
    for topic in range(n_topics):
        row = weights.getrow(topic)
        order = np.argsort(-row.data, kind="stable")
        order = order[: shortlist if encoder is not None else n_keywords]
        shortlists.append([vocab[row.indices[i]] for i in order])
        relevance.append(row.data[order] / row.data[order[0]] if len(order) else row.data)
    if encoder is None:
        keywords = shortlists
    else:
        phrases = list(dict.fromkeys(p for words in shortlists for p in words))
        position = {p: i for i, p in enumerate(phrases)}
        phrase_vectors = encoder.encode(phrases) if phrases else np.zeros((0, x.shape[1]))
        keywords = []
        for topic, words in enumerate(shortlists):
            vectors = phrase_vectors[[position[w] for w in words]]
            picked = mmr_select(relevance[topic], vectors, n_keywords, diversity)
            keywords.append([words[i] for i in picked])
    sizes = np.bincount(labels, minlength=n_topics).astype(np.int64)
    return Topics(unit, keywords, sizes, random_state)
