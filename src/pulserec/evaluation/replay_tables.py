"""A replay report (:meth:`ReplayReport.to_dict`) as terminal tables and as Markdown.

Both read the JSON form, so a saved report renders the same as a fresh one.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

METHOD_LABELS: dict[str, str] = {
    "realtime-on": "real-time on",
    "realtime-off": "real-time off",
    "popularity": "popularity (frozen at the cut)",
    "session-knn": "session-kNN (+ trending fill)",
}


SHORT_LABELS: dict[str, str] = {
    "realtime-on": "on",
    "realtime-off": "off",
    "popularity": "pop",
    "session-knn": "sknn",
}


def short_label(name: str) -> str:
    """A method's name in a narrow terminal column."""
    if name.startswith("trending"):
        return name.replace("trending", "trend")
    return SHORT_LABELS.get(name, name)


def label(name: str) -> str:
    """A method's name as the tables show it."""
    if name.startswith("trending"):
        half = name.partition("-")[2]
        return f"live trending ({half} half-life)" if half else "live trending (engine half-life)"
    return METHOD_LABELS.get(name, name)


def _fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}×"


def ratio_lines(report: dict[str, Any]) -> list[str]:
    """One line per ratio of real-time on over another method."""
    k = report["k"]
    keys = (f"hit@{k}", f"ndcg@{k}", f"mrr@{k}")
    return [
        f"{pair}: " + ", ".join(f"{key} {_fmt_ratio(r.get(key))}" for key in keys)
        for pair, r in report.get("ratios", {}).items()
    ]


def rich_tables(report: dict[str, Any]) -> list[Table]:
    """The method table, the two breakdowns and the reflect times, for a terminal."""
    k = report["k"]
    keys = (f"hit@{k}", f"ndcg@{k}", f"mrr@{k}")
    best = _best(report, keys)
    main = Table(
        title=f"{report['dataset']} · streaming replay · cut at {report['train_fraction']:.0%} "
        f"of the timeline · K={k} · {report['scored_events']:,} scored events of "
        f"{report['users']:,} users"
    )
    for col in ("method", *keys, "seconds"):
        main.add_column(col, justify="left" if col == "method" else "right")
    for r in report["results"]:
        m = r["metrics"]
        cells = [f"[bold]{m[x]:.4f}[/]" if m[x] == best[x] else f"{m[x]:.4f}" for x in keys]
        main.add_row(label(r["name"]), *cells, f"{r['seconds']:.1f}")
    tables = [main]
    names = [r["name"] for r in report["results"]]
    for part, title in (("history", "user's events before"), ("item_age", "item")):
        t = Table(title=f"HitRate@{k} by {title}")
        t.add_column(title, no_wrap=True)
        t.add_column("events", justify="right")
        for name in names:
            t.add_column(short_label(name), justify="right")
        for group, row in report["breakdown"][part].items():
            t.add_row(group, f"{row['events']:,}", *(f"{row[n][keys[0]]:.4f}" for n in names))
        tables.append(t)
    if report.get("reflect"):
        t = Table(title="From ingest to the next list (a sample of scored events)")
        for col in ("run", "events", "median ms", "p99 ms", "top-k changed", "new items"):
            t.add_column(col, justify="left" if col == "run" else "right")
        for name, s in report["reflect"].items():
            t.add_row(
                name, f"{int(s['events'])}", f"{s['median_ms']:.2f}", f"{s['p99_ms']:.2f}",
                f"{s['changed_share']:.0%}", f"{s['mean_new_items']:.2f}",
            )  # fmt: skip
        tables.append(t)
    return tables


def _best(report: dict[str, Any], keys: tuple[str, ...]) -> dict[str, float]:
    return {key: max(r["metrics"][key] for r in report["results"]) for key in keys}


def markdown_tables(report: dict[str, Any], *, metric: str | None = None) -> str:
    """The method table (best in bold), the ratios and the breakdowns as Markdown.

    ``metric`` (e.g. ``mrr@10``) names the metric the breakdowns show; HitRate by default.
    """
    k = report["k"]
    keys = (f"hit@{k}", f"ndcg@{k}", f"mrr@{k}")
    shown = metric or keys[0]
    best = _best(report, keys)
    heads = {f"hit@{k}": f"HitRate@{k}", f"ndcg@{k}": f"NDCG@{k}", f"mrr@{k}": f"MRR@{k}"}
    lines = [
        "| method | " + " | ".join(heads[key] for key in keys) + " | seconds |",
        "|---|" + "---:|" * (len(keys) + 1),
    ]
    for r in report["results"]:
        m = r["metrics"]
        cells = [f"**{m[key]:.4f}**" if m[key] == best[key] else f"{m[key]:.4f}" for key in keys]
        lines.append(f"| {label(r['name'])} | " + " | ".join(cells) + f" | {r['seconds']:.0f} |")
    lines.append("")
    lines += [f"- {line}" for line in ratio_lines(report)]
    names = [r["name"] for r in report["results"]]
    for part, title in (("history", "user's positive events before"), ("item_age", "item")):
        lines += [
            "",
            f"{heads[shown]} by {title}:",
            "",
            f"| {title} | events | " + " | ".join(short_label(n) for n in names) + " |",
            "|---|---:|" + "---:|" * len(names),
        ]
        for group, row in report["breakdown"][part].items():
            values = [row[n][shown] for n in names]
            top = max(values)
            cells = [f"**{v:.4f}**" if v == top and v > 0 else f"{v:.4f}" for v in values]
            if not row["events"]:
                cells = ["–"] * len(names)
            lines.append(f"| {group} | {row['events']:,} | " + " | ".join(cells) + " |")
    reflect = report.get("reflect") or {}
    if reflect:
        lines += [
            "",
            "| run | timed events | ingest → next list, median ms | p99 ms | top-10 changed "
            "| new items in it |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, s in reflect.items():
            lines.append(
                f"| {label(name)} | {int(s['events'])} | {s['median_ms']:.2f} | "
                f"{s['p99_ms']:.2f} | {s['changed_share']:.0%} | {s['mean_new_items']:.2f} |"
            )
    return "\n".join(lines) + "\n"
