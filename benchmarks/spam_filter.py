"""Run pulserec's spam filter over real comments and report what it flags, and why.

Streams (each in time order, one fresh filter per stream, ``use-m3`` near-duplicate memory of
1,000 texts at cosine >= 0.95 for texts of 5+ word units, every other setting at its
default):

- Amazon All_Beauty 5-core: every review event after cleaning (the 2018 dump repeats one
  review under each product variant, so near-duplicates are expected), then the unique texts
  only.
- Douban DMR sample: the 44 labelled target reviews (label 0 = spam, 1 = not spam), and all
  non-empty review texts (targets plus their authors' earlier reviews, one per author and
  text; ratings left without a comment have an empty text and are skipped).

On the 44 labelled Douban reviews it reports precision and recall of "flagged" against
"labelled spam". The DMR spam label marks organised promotion (paid or fan-organised
five-star reviews); those are fluent, on-topic texts, which is not what content rules look for,
so low recall is expected. As a diagnostic it also reports how well each review's highest
cosine to the *other* target reviews ranks spam above non-spam (ROC AUC).

Usage::

    .venv/bin/python benchmarks/spam_filter.py --output results/spam_filter.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from pulserec.config import DEFAULT_ENCODER, get_settings
from pulserec.events import load_amazon_reviews
from pulserec.text import CachedEncoder, TextEncoder, make_encoder
from pulserec.text.spam import SpamFilter

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / get_settings().data_root
AMAZON = DATA / "amazon-all-beauty-5core-2018" / "All_Beauty_5.json.gz"
DOUBAN = DATA / "douban-dmr-sample" / "reviews.json"


def run(name: str, texts: list[str], encoder: TextEncoder, n_examples: int) -> dict[str, Any]:
    """Filter ``texts`` in order; counts by reason and a few flagged examples per reason."""
    spam = SpamFilter(encoder=encoder)
    verdicts = spam.check_many(texts)
    examples: dict[str, list[str]] = {}
    for text, verdict in zip(texts, verdicts, strict=True):
        for reason in verdict.reasons:
            shown = examples.setdefault(reason, [])
            if len(shown) < n_examples:
                shown.append(text[:80].replace("\n", " / "))
    return {
        "stream": name,
        "checked": spam.n_checked,
        "flagged": spam.n_spam,
        "flagged_share": spam.n_spam / max(spam.n_checked, 1),
        "reasons": {k: v for k, v in spam.report().items() if v},
        "examples": examples,
        "flags": [v.spam for v in verdicts],
        "similarity": [v.similarity for v in verdicts],
    }


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    pos, neg = score[y == 1], score[y == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (len(pos) * len(neg)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=REPO / get_settings().embedding_cache_dir,
                        help="Embedding cache folder (re-runs skip the encoder).")
    parser.add_argument("--examples", type=int, default=3, help="Flagged examples per reason.")
    parser.add_argument("--output", type=Path, help="Write the figures as JSON here.")
    args = parser.parse_args()
    t0 = time.perf_counter()
    encoder = CachedEncoder(make_encoder(DEFAULT_ENCODER), args.cache_dir)

    events = load_amazon_reviews(AMAZON, verbose=False).events
    events = events.sort_values("timestamp", kind="stable")
    amazon = events["text"].fillna("").astype(str).tolist()
    unique = list(dict.fromkeys(amazon))

    raw = json.loads(DOUBAN.read_text(encoding="utf-8"))
    targets = sorted(raw.values(), key=lambda r: r["date"])
    target_texts = [str(r["text"]) for r in targets]
    is_spam = np.asarray([r["label"] == 0 for r in targets])
    # Each author's history already holds the target review itself: one entry per
    # (author, text), dated by the history.
    everything = {
        (r["user_id"], str(h.get("text") or "")): str(h.get("date", ""))
        for r in raw.values() for h in r.get("user_reviews", {}).values()
    }
    for r in raw.values():
        everything.setdefault((r["user_id"], str(r["text"])), r["date"][:10])
    # A rating without a comment has an empty text: not a comment at all, so not filtered.
    dated = sorted((date, text) for (_, text), date in everything.items())
    douban_all = [text for _, text in dated if text.strip()]
    n_empty = sum(not str(h.get("text") or "").strip()
                  for r in raw.values() for h in r.get("user_reviews", {}).values())

    streams = [
        run("amazon: all review events", amazon, encoder, args.examples),
        run("amazon: unique review texts", unique, encoder, args.examples),
        run("douban: 44 labelled target reviews", target_texts, encoder, args.examples),
        run("douban: all non-empty review texts", douban_all, encoder, args.examples),
    ]

    flagged = np.asarray(streams[2]["flags"])
    tp = int((flagged & is_spam).sum())
    douban_pr = {
        "n": len(is_spam),
        "n_spam": int(is_spam.sum()),
        "flagged": int(flagged.sum()),
        "true_positives": tp,
        "precision": tp / int(flagged.sum()) if flagged.any() else None,
        "recall": tp / int(is_spam.sum()),
    }
    vectors = encoder.encode(target_texts)
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -1.0)
    nearest = sims.max(axis=1)
    douban_pr["nearest_other_cosine"] = {
        "mean_spam": float(nearest[is_spam].mean()),
        "mean_not_spam": float(nearest[~is_spam].mean()),
        "roc_auc_spam_above_not_spam": roc_auc(is_spam.astype(int), nearest),
    }

    print(f"{'stream':<38} {'checked':>8} {'flagged':>8} {'share':>7}  reasons")
    for s in streams:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(s["reasons"].items(),
                                                           key=lambda kv: -kv[1])) or "-"
        print(f"{s['stream']:<38} {s['checked']:8d} {s['flagged']:8d} "
              f"{s['flagged_share']:7.1%}  {reasons}")
    print(f"\nDouban: {n_empty} ratings without text skipped")
    print("Douban labelled targets: "
          f"{douban_pr['flagged']} flagged of {douban_pr['n']} ({douban_pr['n_spam']} labelled "
          f"spam); true positives {tp}; precision {douban_pr['precision']}; "
          f"recall {douban_pr['recall']:.3f}")
    sim = douban_pr["nearest_other_cosine"]
    print(f"nearest-other-review cosine: spam {sim['mean_spam']:.3f}, not spam "
          f"{sim['mean_not_spam']:.3f}, ROC AUC {sim['roc_auc_spam_above_not_spam']:.3f}")
    print("\nexamples of flagged texts:")
    for s in streams:
        for reason, texts in s["examples"].items():
            for text in texts:
                print(f"  [{s['stream'].split(':')[0]}:{reason}] {text}")

    if args.output is not None:
        payload = {
            "encoder": DEFAULT_ENCODER,
            "settings": "SpamFilter defaults: duplicate_threshold 0.95, memory 1000, "
                        "duplicate_min_length 5",
            "streams": [{k: v for k, v in s.items() if k not in ("flags", "similarity")}
                        for s in streams],
            "douban_labelled": douban_pr,
            "douban_empty_texts_skipped": n_empty,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(payload, indent=2, ensure_ascii=False))
        print(f"figures written to {args.output}")


if __name__ == "__main__":
    main()
