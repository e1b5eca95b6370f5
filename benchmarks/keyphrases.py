"""Keyphrases against real annotations: noun-phrase candidates against the n-gram ones.

For each candidate mode (``ngrams``: the earlier extractor; ``phrases``: noun phrases and
names), the top-5 keyphrases of ``extract_keywords`` (the engine's encoder, MMR diversity
0.5) are taken for

- English: a seeded sample of MIND news (title + abstract) that carry entity annotations
  (``title_entities``, ``abstract_entities``: Wikidata entities with their surface forms in
  the text);
- Chinese: a seeded sample of xMIND Chinese titles (machine translations of MIND news)
  whose English title has entities; the Chinese form of each entity was written down by
  reading the title (``benchmarks/data/keyphrases-zh-entities.tsv``).

Two figures per mode:

1. **entity recall**: the share of annotated entity surface forms found among the top-5
   keyphrases, exactly (the keyphrase is the entity) and contained (a keyphrase holds the
   whole entity; "marine corps marathon" in "soggy marine corps marathon"). Matching is on
   lower-cased words (English) or characters (Chinese).
2. **cut share**: of the first 100 top-5 keyphrases (news in sample order), the share that
   starts or ends inside a noun phrase or name of the text ("longjing green" of "longjing
   green tea", "speedway" of "Homestead-Miami Speedway"), as judged by reading each
   keyphrase in its text (the judged files hold news ids, keyphrases and verdicts; the
   texts stay in ../shared/data, whose terms keep them out of the repository; a todo file
   holds the text for reading); and the share that is no noun phrase although it cuts none
   (``fragment``: "says democrats plan", "exhumed last month"). A noun phrase's head
   without its modifiers ("clay pots" of "small clay pots") and a whole name used as a
   modifier ("Arkansas" of "Arkansas teen") are whole phrases. The judgements are in
   ``benchmarks/data/keyphrases-judged-{en,zh}.tsv``; a keyphrase not judged there is
   written to ``<name>.todo.tsv`` beside it, for a person to judge, and is not counted.

Usage::

    .venv/bin/python benchmarks/keyphrases.py            # both languages, both modes
    .venv/bin/python benchmarks/keyphrases.py --news 400 --zh-titles 40
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pulserec.config import DEFAULT_ENCODER, DEFAULT_SEED, get_settings
from pulserec.text import CachedEncoder, TextEncoder, make_encoder
from pulserec.text.keywords import Candidates, extract_keywords
from pulserec.text.phrases import WORD_PATTERN

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / get_settings().data_root
JUDGED = REPO / "benchmarks" / "data"
MODES: tuple[Candidates, ...] = ("ngrams", "phrases")
VERDICTS = ("ok", "cut", "fragment")
K = 5
N_JUDGED = 100


@dataclass
class Doc:
    """One news text with its annotated entity surface forms."""

    news_id: str
    text: str
    entities: list[str]
    keyphrases: dict[str, list[str]] = field(default_factory=dict)


def _words(text: str) -> tuple[str, ...]:
    return tuple(w.lower().replace("’", "'") for w in WORD_PATTERN.findall(text))


def _chars(text: str) -> tuple[str, ...]:
    return tuple(c for c in text.lower() if not c.isspace())


def _contains(whole: tuple[str, ...], part: tuple[str, ...]) -> bool:
    n = len(part)
    return n > 0 and any(whole[i : i + n] == part for i in range(len(whole) - n + 1))


def entity_recall(docs: list[Doc], mode: str, unit: str) -> tuple[float, float, int]:
    """(exact share, contained share, number of entities) over all docs."""
    split = _words if unit == "words" else _chars
    exact = contained = total = 0
    for doc in docs:
        phrases = [split(p) for p in doc.keyphrases[mode]]
        for entity in doc.entities:
            form = split(entity)
            total += 1
            exact += any(p == form for p in phrases)
            contained += any(_contains(p, form) for p in phrases)
    return exact / max(total, 1), contained / max(total, 1), total


def load_mind(path: Path, n_news: int, seed: int) -> list[Doc]:
    docs = []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            news_id, title, abstract = row[0], row[3], row[4]
            forms = [
                form
                for column in (row[6], row[7])
                for entity in json.loads(column or "[]")
                for form in entity["SurfaceForms"]
            ]
            entities = list(dict.fromkeys(f for f in forms if _words(f)))
            if entities:
                docs.append(Doc(news_id, f"{title}. {abstract}".strip(), entities))
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(docs), size=min(n_news, len(docs)), replace=False)
    return [docs[i] for i in picked]


def load_xmind(path: Path, entities_path: Path, n_titles: int) -> list[Doc]:
    """The hand-annotated xMIND titles, in file order (``entities_path``), at most ``n``."""
    titles = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            titles[row[0]] = row[1]
    docs = []
    with entities_path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            title = titles[row["news_id"]]
            forms = [f for f in row["entities_zh"].split("|") if f]
            missing = [f for f in forms if f not in title]
            if missing:
                raise ValueError(f"{entities_path}: {missing} not in the title of "
                                 f"{row['news_id']} ({title!r})")
            docs.append(Doc(row["news_id"], title, forms))
    return docs[:n_titles]


def zh_sample_candidates(mind: Path, xmind: Path, n: int, seed: int) -> list[tuple[str, ...]]:
    """Rows to annotate: xMIND titles whose MIND English title has entities (seeded)."""
    english = {}
    with mind.open(encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            forms = [f for e in json.loads(row[6] or "[]") for f in e["SurfaceForms"]]
            if forms:
                english[row[0]] = (row[3], "|".join(dict.fromkeys(forms)))
    rows = []
    with xmind.open(encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            if row[0] in english:
                rows.append((row[0], row[1], *english[row[0]]))
    rng = np.random.default_rng(seed)
    return [rows[i] for i in rng.choice(len(rows), size=min(n, len(rows)), replace=False)]


def read_judgements(path: Path) -> dict[tuple[str, str, str], str]:
    if not path.exists():
        return {}
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    for row in rows:
        if row["verdict"] not in VERDICTS:
            raise ValueError(f"{path}: verdict {row['verdict']!r} for {row['keyphrase']!r}; "
                             f"expected one of {VERDICTS}")
    return {(r["mode"], r["news_id"], r["keyphrase"]): r["verdict"] for r in rows}


def cut_share(
    docs: list[Doc], mode: str, judged_path: Path
) -> tuple[float | None, float | None, int, int]:
    """(share ``cut``, share ``fragment``, number judged, number in the sample), first 100."""
    judged = read_judgements(judged_path)
    sample = [(doc, p) for doc in docs for p in doc.keyphrases[mode]][:N_JUDGED]
    verdicts = [judged.get((mode, doc.news_id, p)) for doc, p in sample]
    todo = [(doc, p) for (doc, p), v in zip(sample, verdicts, strict=True) if v is None]
    if todo:
        todo_path = judged_path.with_suffix(".todo.tsv")
        new = not todo_path.exists()
        with todo_path.open("a", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
            if new:
                writer.writerow(["mode", "news_id", "keyphrase", "verdict", "text"])
            for doc, p in todo:
                writer.writerow([mode, doc.news_id, p, "", doc.text.replace("\t", " ")])
    known = [v for v in verdicts if v is not None]
    if not known:
        return None, None, 0, len(sample)
    cut = sum(v == "cut" for v in known) / len(known)
    fragment = sum(v == "fragment" for v in known) / len(known)
    return cut, fragment, len(known), len(sample)


def run(docs: list[Doc], encoder: TextEncoder, judged: Path, unit: str) -> list[str]:
    for doc in docs:
        for mode in MODES:
            picked = extract_keywords(doc.text, encoder, k=K, candidates=mode)
            doc.keyphrases[mode] = [p for p, _ in picked]
    lines = []
    for mode in MODES:
        exact, contained, n_entities = entity_recall(docs, mode, unit)
        cut, fragment, n_judged, n_sample = cut_share(docs, mode, judged)
        shares = "– | –" if cut is None or fragment is None else f"{cut:.2f} | {fragment:.2f}"
        lines.append(f"| {mode} | {len(docs)} | {n_entities} | {exact:.3f} | {contained:.3f} "
                     f"| {shares} | {n_judged} of {n_sample} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=REPO / get_settings().embedding_cache_dir)
    parser.add_argument("--news", type=int, default=300, help="MIND news sampled (English)")
    parser.add_argument("--zh-titles", type=int, default=40, help="annotated xMIND titles used")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--zh-sample", type=int, default=0,
                        help="print this many xMIND titles to annotate, with their English "
                             "entities, and stop")
    args = parser.parse_args()
    mind = DATA / "mind-small-sample" / "news.tsv"
    xmind = DATA / "xmind-cmn-small-dev" / "news.tsv"
    if args.zh_sample:
        for row in zh_sample_candidates(mind, xmind, args.zh_sample, args.seed):
            print("\t".join(row))
        return
    t0 = time.perf_counter()
    encoder = CachedEncoder(make_encoder(DEFAULT_ENCODER), args.cache_dir)
    header = ["| candidates | texts | entities | entity recall (exact) | "
              "entity recall (contained) | cut | fragment | judged |",
              "|---|---|---|---|---|---|---|---|"]
    english = run(load_mind(mind, args.news, args.seed), encoder,
                  JUDGED / "keyphrases-judged-en.tsv", "words")
    print(f"English: MIND news title + abstract, top-{K} keyphrases ({DEFAULT_ENCODER})")
    print("\n".join([*header, *english]))
    docs = load_xmind(xmind, JUDGED / "keyphrases-zh-entities.tsv", args.zh_titles)
    chinese = run(docs, encoder, JUDGED / "keyphrases-judged-zh.tsv", "chars")
    print(f"\nChinese: xMIND titles, top-{K} keyphrases ({DEFAULT_ENCODER})")
    print("\n".join([*header, *chinese]))
    print(f"\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
