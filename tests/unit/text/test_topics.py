"""Topics: k-means on embeddings and keyword labels, with known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pulserec.text import HashingEncoder
from pulserec.text.topics import Topics, class_tfidf, fit_topics, kmeans

SHOE_TEXTS = [
    "red running shoes for the marathon",
    "light running shoes with soft soles",
    "trail running shoes, waterproof",
    "cheap running shoes for beginners",
]
TEA_TEXTS = [
    "organic green tea from Japan",
    "green tea with jasmine flowers",
    "matcha green tea powder",
    "loose leaf green tea, spring harvest",
]


def two_blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two well-separated unit-norm clusters in 16 dimensions, and which blob each row is."""
    rng = np.random.default_rng(seed)
    centres = np.zeros((2, 16))
    centres[0, 0] = centres[1, 1] = 1.0
    truth = np.repeat([0, 1], 25)
    x = centres[truth] + 0.05 * rng.normal(size=(50, 16))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), truth


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two labelings group the rows the same way, whatever the label numbers."""
    pairs = {(int(x), int(y)) for x, y in zip(a, b, strict=True)}
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_kmeans_recovers_two_obvious_clusters() -> None:
    x, truth = two_blobs()
    centroids, labels, inertia = kmeans(x, 2, random_state=3)
    assert same_partition(labels, truth)
    assert centroids.shape == (2, 16)
    # Each centroid sits on one of the true centres (axis 0 or axis 1).
    assert sorted(np.argmax(centroids, axis=1).tolist()) == [0, 1]
    assert inertia < 0.2 * len(x)


def test_kmeans_is_deterministic_for_a_seed() -> None:
    x = np.random.default_rng(1).normal(size=(60, 5))
    a = kmeans(x, 4, random_state=7)
    b = kmeans(x, 4, random_state=7)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_allclose(a[0], b[0])


def test_kmeans_with_as_many_clusters_as_points_and_bad_k() -> None:
    x = np.array([[0.0], [1.0], [5.0]])
    _, labels, inertia = kmeans(x, 3, random_state=0)
    assert sorted(labels.tolist()) == [0, 1, 2]
    assert inertia == pytest.approx(0.0)
    with pytest.raises(ValueError, match="n_clusters"):
        kmeans(x, 4)


def test_class_tfidf_prefers_phrases_specific_to_a_topic() -> None:
    texts = ["fresh tea shop", "green tea shop", "red shoes shop", "blue shoes shop"]
    weights, vocab = class_tfidf(texts, np.array([0, 0, 1, 1]), 2)
    col = {phrase: j for j, phrase in enumerate(vocab)}
    tea_row = weights.toarray()[0]
    # "shop" is in every document of both topics; "tea" only in topic 0.
    assert tea_row[col["tea"]] > tea_row[col["shop"]]
    assert tea_row[col["shoes"]] == 0.0


@pytest.mark.parametrize("rerank", [False, True])
def test_fit_topics_labels_each_cluster_with_its_own_words(rerank: bool) -> None:
    encoder = HashingEncoder(dim=256)
    texts = SHOE_TEXTS * 6 + SHOE_TEXTS[:1] + TEA_TEXTS * 6 + TEA_TEXTS[:1]  # 25 + 25 rows
    x = encoder.encode(texts)
    topics = fit_topics(x, texts, n_topics=2, encoder=encoder if rerank else None,
                        random_state=0)
    shoe_topic = int(topics.assign(x[:1])[0])
    tea_topic = 1 - shoe_topic
    assert topics.assign(x).tolist() == [shoe_topic] * 25 + [tea_topic] * 25
    shoe_words = " ".join(topics.keywords[shoe_topic])
    tea_words = " ".join(topics.keywords[tea_topic])
    assert "shoes" in shoe_words and "tea" not in shoe_words
    assert "tea" in tea_words and "shoes" not in tea_words
    assert len(topics.keywords[shoe_topic]) == 5
    assert sorted(topics.sizes.tolist()) == [25, 25]
    assert len(topics.labels) == 2 and all(topics.labels)
    np.testing.assert_allclose(np.linalg.norm(topics.centroids, axis=1), 1.0, rtol=1e-5)


def test_assign_and_save_load_round_trip(tmp_path: Path) -> None:
    x, truth = two_blobs()
    texts = ["shoes"] * 25 + ["tea"] * 25
    topics = fit_topics(x, texts, n_topics=2, random_state=5)
    assert same_partition(topics.assign(x), truth)
    loaded = Topics.load(topics.save(tmp_path / "topics"))
    np.testing.assert_array_equal(loaded.centroids, topics.centroids)
    np.testing.assert_array_equal(loaded.sizes, topics.sizes)
    assert loaded.keywords == topics.keywords
    assert loaded.random_state == 5
    np.testing.assert_array_equal(loaded.assign(x), topics.assign(x))
    with pytest.raises(ValueError, match="vectors"):
        loaded.assign(np.zeros((2, 3)))


def test_fit_topics_rejects_misaligned_inputs() -> None:
    with pytest.raises(ValueError, match="item_texts"):
        fit_topics(np.zeros((3, 4)), ["a", "b"], n_topics=2)
    with pytest.raises(ValueError, match="encoder"):
        fit_topics(np.zeros((2, 4)), ["a", "b"], n_topics=2, encoder=HashingEncoder(dim=8))
