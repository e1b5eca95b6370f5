"""Train and evaluate pulserec's default sentiment model; write the shipped artifact.

Data: Amazon 2018 All_Beauty 5-core reviews (``comment`` events, value = stars, text = summary
+ review). Labels: 4-5 stars positive, 1-2 stars negative, 3 stars left out of training (their
mean P(positive) is reported as a sanity check: it should fall between the two classes).

The 2018 dump repeats one review once per product variant, so the same text appears under
several items; texts are deduplicated (first occurrence kept) before anything else, otherwise
copies of one review would land on both sides of a split.

Evaluation (English, in-domain): user-disjoint 5-fold cross-validation (folds of reviewers,
seeded), every review predicted once by a model that never saw its author; ``C`` is chosen
inside each training fold by a nested user-disjoint 4-fold search on balanced accuracy. Metrics
are pooled over the out-of-fold predictions, next to the majority-class baseline.

Cross-lingual check: the model trained on all English reviews scores the Chinese Douban
reviews of ``douban-dmr-sample`` (:func:`~pulserec.events.load_douban`: the 44 target reviews
plus their authors' earlier reviews, texts deduplicated), stars >= 4 positive and <= 2 negative.

The final model (``C`` chosen by user-disjoint 5-fold CV on all reviews, fitted on all of them)
is written to ``src/pulserec/text/data/sentiment-use-m3`` with the figures in its manifest.

Usage::

    .venv/bin/python benchmarks/train_sentiment.py --output results/sentiment.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from pulserec.config import DEFAULT_ENCODER, DEFAULT_SEED, get_settings
from pulserec.events import load_amazon_reviews, load_douban
from pulserec.text import CachedEncoder, make_encoder
from pulserec.text.sentiment import SentimentModel, star_labels

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / get_settings().data_root
AMAZON = DATA / "amazon-all-beauty-5core-2018" / "All_Beauty_5.json.gz"
DOUBAN = DATA / "douban-dmr-sample"
ARTIFACT = REPO / "src" / "pulserec" / "text" / "data" / "sentiment-use-m3"
C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


# --------------------------------------------------------------------------- metrics


def binary_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Accuracy, balanced accuracy, macro-F1 and ROC AUC at threshold 0.5."""
    y = np.asarray(y, dtype=np.int64)
    pred = (np.asarray(proba) >= 0.5).astype(np.int64)
    recalls, f1s = [], []
    for cls in (0, 1):
        tp = float(np.sum((pred == cls) & (y == cls)))
        n_true, n_pred = float(np.sum(y == cls)), float(np.sum(pred == cls))
        recall = tp / n_true if n_true else 0.0
        precision = tp / n_pred if n_pred else 0.0
        recalls.append(recall)
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return {
        "accuracy": float(np.mean(pred == y)),
        "balanced_accuracy": float(np.mean(recalls)),
        "macro_f1": float(np.mean(f1s)),
        "recall_negative": recalls[0],
        "recall_positive": recalls[1],
        "roc_auc": roc_auc(y, np.asarray(proba, dtype=np.float64)),
        "n": len(y),
        "n_positive": int(y.sum()),
        "n_negative": int(len(y) - y.sum()),
    }


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    order = np.argsort(score, kind="stable")
    ranks = np.empty(len(score))
    sorted_scores = score[order]
    # Average ranks over ties, so equal scores contribute one half.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(average, counts)
    n_pos, n_neg = float(y.sum()), float(len(y) - y.sum())
    if not n_pos or not n_neg:
        return float("nan")
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def majority_metrics(y: np.ndarray) -> dict[str, float]:
    """The metrics of always predicting the most common class."""
    majority = int(np.mean(y) >= 0.5)
    return binary_metrics(y, np.full(len(y), float(majority)))


# --------------------------------------------------------------------------- folds


def user_folds(users: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold id of each row; all rows of a user share a fold (users shuffled with ``seed``)."""
    unique, inverse = np.unique(users, return_inverse=True)
    fold_of_user = np.random.default_rng(seed).permutation(len(unique)) % n_folds
    return fold_of_user[inverse]


def choose_c(x: np.ndarray, y: np.ndarray, users: np.ndarray, seed: int, n_folds: int) -> float:
    """The ``C`` of :data:`C_GRID` with the best pooled out-of-fold balanced accuracy."""
    folds = user_folds(users, n_folds, seed)
    best: tuple[float, float] | None = None
    for c in C_GRID:
        proba = np.empty(len(y))
        for fold in range(n_folds):
            test = folds == fold
            model = SentimentModel(encoder=DEFAULT_ENCODER, C=c).fit_vectors(x[~test], y[~test])
            proba[test] = model.predict_proba_vectors(x[test])
        score = binary_metrics(y, proba)["balanced_accuracy"]
        if best is None or score > best[0]:
            best = (score, c)
    assert best is not None
    return best[1]


# --------------------------------------------------------------------------- data


def amazon_reviews() -> tuple[list[str], np.ndarray, np.ndarray]:
    """Unique review texts with their stars and reviewer ids."""
    events = load_amazon_reviews(AMAZON, verbose=False).events
    events = events[events["text"].notna() & (events["text"].str.strip() != "")]
    events = events.drop_duplicates("text", keep="first")
    return (
        events["text"].astype(str).tolist(),
        events["value"].to_numpy(dtype=np.float64),
        events["user_id"].astype(str).to_numpy(),
    )


def douban_reviews() -> tuple[list[str], np.ndarray]:
    """Unique Chinese review texts (target reviews and authors' histories) with stars.

    A text written more than once keeps the stars of its earliest review.
    """
    events = load_douban(DOUBAN, verbose=False).events
    comments = events[events["text"].notna() & events["value"].notna()]
    unique = comments.drop_duplicates("text")
    return unique["text"].tolist(), unique["value"].to_numpy(dtype=np.float64)


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=REPO / get_settings().embedding_cache_dir,
                        help="Embedding cache folder (re-runs skip the encoder).")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--artifact", type=Path, default=ARTIFACT,
                        help="Where the trained model is written.")
    parser.add_argument("--output", type=Path, help="Write the figures as JSON here.")
    args = parser.parse_args()

    t0 = time.perf_counter()
    encoder = CachedEncoder(make_encoder(DEFAULT_ENCODER), args.cache_dir)
    texts, stars, users = amazon_reviews()
    keep, y = star_labels(stars)
    x_all = encoder.encode(texts, progress=True)
    x, users_kept = x_all[keep], users[keep]
    print(f"amazon: {len(texts)} unique reviews, {int(y.sum())} positive, "
          f"{int(len(y) - y.sum())} negative, {int((stars == 3).sum())} neutral (3 stars)")

    # Nested, user-disjoint cross-validation: outer folds report, inner folds choose C.
    folds = user_folds(users_kept, args.folds, args.seed)
    oof = np.empty(len(y))
    fold_rows, chosen = [], []
    for fold in range(args.folds):
        test = folds == fold
        c = choose_c(x[~test], y[~test], users_kept[~test], args.seed + 1 + fold, args.folds - 1)
        model = SentimentModel(encoder=DEFAULT_ENCODER, C=c).fit_vectors(x[~test], y[~test])
        oof[test] = model.predict_proba_vectors(x[test])
        fold_rows.append(binary_metrics(y[test], oof[test]))
        chosen.append(c)
    english = binary_metrics(y, oof)
    english_majority = majority_metrics(y)
    per_fold = {
        key: {"mean": float(np.mean([r[key] for r in fold_rows])),
              "std": float(np.std([r[key] for r in fold_rows]))}
        for key in ("accuracy", "balanced_accuracy", "macro_f1", "roc_auc")
    }

    final_c = choose_c(x, y, users_kept, args.seed, args.folds)
    final = SentimentModel(encoder=encoder, C=final_c).fit_vectors(x, y)
    neutral = final.predict_proba_vectors(x_all[stars == 3])
    by_stars = {
        str(int(s)): float(final.predict_proba_vectors(x_all[stars == s]).mean())
        for s in (1, 2, 3, 4, 5)
    }

    zh_texts, zh_stars = douban_reviews()
    zh_keep, zh_y = star_labels(zh_stars)
    zh_x = encoder.encode([t for t, k in zip(zh_texts, zh_keep, strict=True) if k], progress=True)
    chinese = binary_metrics(zh_y, final.predict_proba_vectors(zh_x))
    chinese_majority = majority_metrics(zh_y)

    figures: dict[str, Any] = {
        "encoder": DEFAULT_ENCODER,
        "seed": args.seed,
        "labels": "positive = 4-5 stars, negative = 1-2 stars, 3 stars left out",
        "english_cv": {
            "protocol": f"user-disjoint {args.folds}-fold CV, nested C search, pooled "
                        "out-of-fold predictions, texts deduplicated",
            "model": english,
            "majority": english_majority,
            "per_fold": per_fold,
            "C_per_fold": chosen,
        },
        "final_C": final_c,
        "mean_p_positive_by_stars": by_stars,
        "neutral_3_star": {"n": len(neutral), "mean_p_positive": float(neutral.mean())},
        "chinese_douban": {
            "protocol": "model trained on English Amazon reviews only; Douban stars >= 4 "
                        "positive, <= 2 negative, unique texts",
            "model": chinese,
            "majority": chinese_majority,
        },
        "seconds": round(time.perf_counter() - t0, 1),
    }
    final.metadata_ = {
        "trained_on": "Amazon 2018 All_Beauty 5-core reviews (unique texts), "
                      "4-5 stars positive, 1-2 stars negative",
        "n_train": len(y),
        "english_cv": {"model": english, "majority": english_majority},
        "chinese_douban": {"model": chinese, "majority": chinese_majority},
    }
    final.save(args.artifact)

    rows = [
        ("English, 5-fold user-disjoint CV", english, english_majority),
        ("Chinese Douban (cross-lingual)", chinese, chinese_majority),
    ]
    header = (f"{'evaluation':<34} {'n (pos/neg)':>14} {'acc':>6} {'bal.acc':>8} "
              f"{'macroF1':>8} {'AUC':>6}")
    print()
    print(header)
    print("-" * len(header))
    for name, m, base in rows:
        counts = f"{m['n']} ({m['n_positive']}/{m['n_negative']})"
        print(f"{name:<34} {counts:>14} {m['accuracy']:6.3f} {m['balanced_accuracy']:8.3f} "
              f"{m['macro_f1']:8.3f} {m['roc_auc']:6.3f}")
        print(f"{'  majority baseline':<34} {'':>14} {base['accuracy']:6.3f} "
              f"{base['balanced_accuracy']:8.3f} {base['macro_f1']:8.3f} {0.5:6.3f}")
    print("\nmean P(positive) by stars (final model; 3★ never trained on, the rest in-sample): "
          + ", ".join(f"{s}★ {p:.3f}" for s, p in by_stars.items()))
    print(f"C per outer fold: {chosen}; final C: {final_c}")
    print(f"artifact written to {args.artifact}")
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(figures, indent=2))
        print(f"figures written to {args.output}")


if __name__ == "__main__":
    main()
