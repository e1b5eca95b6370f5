"""Show topics and interest keywords on real data: MovieLens latest-small and Douban.

1. Topics: k-means (``--topics`` clusters, seeded) on ``use-m3`` embeddings of every movie's
   text (title, genres, tags), each labelled by class-based tf-idf re-ranked by the encoder.
2. Interest keywords of a few MovieLens users, from the texts of their last 20 rated movies
   with a recency weight ``0.5 ** (age / 5)``.
3. Keywords of a few Chinese Douban reviews.

Nothing here is scored against a truth: it is for reading, and for the docs.

Usage::

    .venv/bin/python benchmarks/topics_keywords.py --output results/topics_keywords.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from pulserec.config import DEFAULT_ENCODER, DEFAULT_SEED, get_settings
from pulserec.events import load_movielens_latest
from pulserec.models.content import item_texts_for
from pulserec.text import CachedEncoder, make_encoder
from pulserec.text.keywords import extract_keywords, user_keywords
from pulserec.text.topics import fit_topics

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / get_settings().data_root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=REPO / get_settings().embedding_cache_dir)
    parser.add_argument("--topics", type=int, default=15)
    parser.add_argument("--users", type=int, default=3)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    t0 = time.perf_counter()
    encoder = CachedEncoder(make_encoder(DEFAULT_ENCODER), args.cache_dir)

    ds = load_movielens_latest(DATA / "ml-latest-small", verbose=False)
    ids = ds.items["item_id"].astype(str).tolist()
    texts = item_texts_for(ds.items, ids)
    vectors = encoder.encode(texts, progress=True)
    topics = fit_topics(vectors, texts, args.topics, encoder, random_state=args.seed)
    order = np.argsort(-topics.sizes)
    print(f"{args.topics} topics of {len(ids)} MovieLens movies (use-m3, k-means seed "
          f"{args.seed}):")
    for t in order:
        print(f"  {int(topics.sizes[t]):5d}  {', '.join(topics.keywords[t])}")

    text_of = dict(zip(ids, texts, strict=True))
    events = ds.events.sort_values("timestamp", kind="stable")
    rng = np.random.default_rng(args.seed)
    chosen = rng.choice(np.sort(events["user_id"].unique()), size=args.users, replace=False)
    users = {}
    print("\ninterest keywords of MovieLens users (last 20 rated movies, half-life 5):")
    for user in chosen:
        recent = events[events["user_id"] == user]["item_id"].astype(str).tolist()[-20:]
        weighted = [(text_of.get(i, ""), 0.5 ** ((len(recent) - 1 - n) / 5.0))
                    for n, i in enumerate(recent)]
        keywords = [p for p, _ in user_keywords(weighted, encoder, k=8)]
        titles = [text_of.get(i, "").split("\n")[0] for i in recent[-3:]]
        users[str(user)] = {"last_titles": titles, "keywords": keywords}
        print(f"  user {user}: last watched {titles}\n    -> {', '.join(keywords)}")

    raw = json.loads((DATA / "douban-dmr-sample" / "reviews.json").read_text("utf-8"))
    reviews = [str(r["text"]) for r in list(raw.values())[:5]]
    douban = {}
    print("\nkeywords of Douban reviews:")
    for review in reviews:
        keywords = [p for p, _ in extract_keywords(review, encoder, k=5)]
        douban[review] = keywords
        print(f"  {review[:40]}...\n    -> {', '.join(keywords)}")

    if args.output is not None:
        payload = {
            "topics": [{"size": int(topics.sizes[t]), "keywords": topics.keywords[t]}
                       for t in order],
            "users": users,
            "douban": douban,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(payload, indent=2, ensure_ascii=False))
        print(f"written to {args.output}")


if __name__ == "__main__":
    main()
