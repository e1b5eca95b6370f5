"""Groups of items by their text, for items the catalog gives no category.

Every category signal of the ranking reads each item's group code
(:attr:`~pulserec.engine.items.LiveItems.category`): the user's latest categories and the
filter over them (:mod:`pulserec.engine.sources.trending`), the ``category`` source, and the
``category_*`` features. A catalog without categories left them all silent, and where the
user's topic decides what they take next, those signals carry most of what real time
adds (docs/realtime.md, *Without categories*). Item text usually says the topic: here the
text vectors of the items without a category are clustered by k-means at each refit
(:class:`TextTopics`), each such item joins its nearest cluster as if that were its
category, and an item upserted between refits joins the nearest one at once.

More clusters than topics split a topic into groups that stay pure, fewer merge topics
into groups that mislead. On the generated short-visits catalog (30,000 items, 200
topics, the ``hashing`` encoder) k-means put 63 % of the items in a cluster whose main
topic was theirs at 173 clusters, 81 % at 260, 94 % at 400, yet the replay of its
hot-set shape ranked best with the fewest (HitRate@10 0.2215 at 173, 0.2204 at 346,
0.2165 at 693): a topic split in two halves every count the category signals read. So
the count is the square root of the items' (:func:`topic_count`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pulserec.text.topics import kmeans

MIN_ITEMS = 50
"""Uncategorised items with text below which no topics are fitted."""

MAX_FIT_ITEMS = 20_000
"""Items the clusters are fitted on at most (a seeded sample; every item is assigned)."""

MAX_ITERATIONS = 25
"""Lloyd iterations of the one k-means run."""

KEY = "\x00text topic {}"
"""The category key of text topic ``j`` in the live catalog's codes: no catalog category
is named so, so a topic never shares a code with one."""


def topic_count(n_items: int) -> int:
    """How many topics ``n_items`` items with text are clustered into: the square root,
    between 2 and 1,024.

    Examples
    --------
    >>> topic_count(50), topic_count(30_000), topic_count(10**7)
    (7, 173, 1024)
    """
    return int(np.clip(round(np.sqrt(n_items)), 2, 1024))


@dataclass(frozen=True)
class TextTopics:
    """k-means centroids of item text vectors; an item's topic is its nearest one."""

    centroids: np.ndarray
    """One row per topic, float32."""

    def __len__(self) -> int:
        return len(self.centroids)

    def assign(self, vectors: np.ndarray, batch: int = 8192) -> np.ndarray:
        """The nearest centroid of each row of ``vectors`` (int64), in batches of rows.

        Examples
        --------
        >>> t = TextTopics(np.array([[1, 0], [0, 1]], dtype=np.float32))
        >>> t.assign(np.array([[0.9, 0.2], [0.1, 0.7], [0.6, 0.5]])).tolist()
        [0, 1, 0]
        """
        c = self.centroids
        half_sq = 0.5 * np.einsum("ij,ij->i", c, c)
        out = np.empty(len(vectors), dtype=np.int64)
        for lo in range(0, len(vectors), batch):
            part = np.asarray(vectors[lo : lo + batch], dtype=np.float32)
            out[lo : lo + batch] = np.argmax(part @ c.T - half_sq, axis=1)
        return out


def fit_text_topics(
    vectors: np.ndarray, random_state: int | None = 0
) -> tuple[TextTopics, np.ndarray] | None:
    """Topics of the items with text vectors ``vectors`` (one row per item) and each
    item's topic; None below :data:`MIN_ITEMS` items.

    One seeded k-means run (k-means++ seeding, :data:`MAX_ITERATIONS` iterations at most)
    on at most :data:`MAX_FIT_ITEMS` of them, then every item assigned to its nearest
    centroid.
    """
    n = len(vectors)
    if n < MIN_ITEMS:
        return None
    rng = np.random.default_rng(random_state)
    fit_on = vectors if n <= MAX_FIT_ITEMS else vectors[rng.choice(n, MAX_FIT_ITEMS, False)]
    k = min(topic_count(n), len(fit_on))
    centroids, _, _ = kmeans(
        fit_on, k, random_state=random_state, n_init=1, max_iter=MAX_ITERATIONS, tol=1e-4
    )
    topics = TextTopics(np.ascontiguousarray(centroids, dtype=np.float32))
    return topics, topics.assign(vectors)
