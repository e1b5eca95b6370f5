"""MIND, the Microsoft News Dataset: ``behaviors.tsv`` impressions and ``news.tsv`` articles."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from pulserec.events.base import DataFormatError, Dataset
from pulserec.events.files import (
    PathLike,
    dataset_folder,
    read_delimited,
    require,
    require_values,
    utf8,
)
from pulserec.events.frames import event_frame, finish, item_frame

XMIND_ZH_FOLDER = "xmind-cmn-small-dev"
"""The folder, beside the MIND folder, that ``load_mind(path, zh_news=True)`` reads."""


class Impression(NamedTuple):
    """One MIND impression: what a user was shown and which of it they clicked."""

    impression_id: str
    user_id: str
    timestamp: float
    history: list[str]
    candidates: list[str]
    labels: np.ndarray
    """int8 per candidate: 1 clicked, 0 not clicked, -1 unlabelled (MIND test split)."""


def load_mind(
    path: PathLike, *, zh_news: PathLike | bool | None = None, verbose: bool = True
) -> Dataset:
    """Load MIND (``behaviors.tsv`` and ``news.tsv``) as click and impression events.

    Events:

    * each impression candidate ``newsid-1`` becomes a ``click`` and ``newsid-0``
      an ``impression`` (shown, not clicked), at the impression's time, with
      ``event_id`` ``f"{impression_id}:{newsid}"``. Unlabelled candidates (the
      MIND test split) produce no event.
    * each user's click history becomes ``click`` events once per user, not
      once per impression: the longest history seen for the user (the first
      one on ties). The true history times are unknown, so entry ``p`` (0-based)
      of a history of length ``n`` is placed at ``t0 - (n - p)`` seconds, where
      ``t0`` is the user's first impression time: strictly before every
      impression and in the original order. ``event_id`` is ``None``.

    MIND times (``M/D/YYYY h:mm:ss AM/PM``) carry no zone and are read as UTC. A
    time that does not follow that format raises :class:`DataFormatError`:
    it signals a file in another format rather than one bad row.

    Items are the rows of ``news.tsv``: ``categories`` (category, subcategory),
    ``text`` title and abstract, ``attributes`` url, the parsed entity lists
    and ``lang`` ``"en"``. News ids used by events but absent from ``news.tsv``
    stay valid item ids.

    Chinese text (``zh_news``): a sample of MIND often holds the English text
    of only a few of the news its events use. The xMIND translation (a
    ``news.tsv`` of ``nid``, ``title``, ``abstract`` with a header, keyed by the
    MIND news ids) fills them in: every news id used by the events, without a
    row in the English ``news.tsv`` and with a non-empty Chinese title or
    abstract, becomes an item with the Chinese title, ``text`` title and
    abstract, no categories and ``attributes`` ``{"lang": "zh"}``. English
    text always wins; Chinese news no event uses are not added. The xMIND
    text is as published (Traditional characters).

    Parameters
    ----------
    path : path-like
        The folder holding both files.
    zh_news : path-like or bool, optional
        The xMIND Chinese ``news.tsv``, or the folder holding it. ``True`` reads
        the folder :data:`XMIND_ZH_FOLDER` beside the MIND folder (as the
        shared data stages them). ``None`` (the default) or ``False`` reads
        English text only: what a loader returns never depends on which
        other folders happen to exist. The registry's ``mind-zh`` name (and
        so ``--dataset mind-zh`` on the command line) is ``zh_news=True``.
    verbose : bool
        Print the cleaning report.

    Raises
    ------
    FileNotFoundError
        When a file is missing, the Chinese ``news.tsv`` included.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    folder = dataset_folder(path)
    behaviors, behaviors_file = _read_behaviors(folder)
    news_file = require(folder, "news.tsv", "MIND news")
    cand_row, cand_news, cand_label = _expand_candidates(behaviors, behaviors_file)

    labelled = cand_label >= 0
    rows = cand_row[labelled]
    news = cand_news.filter(pa.array(labelled))
    impression_ids = pc.take(pa.array(behaviors["impression_id"]), pa.array(rows))
    event_id = pc.binary_join_element_wise(
        impression_ids.cast(pa.large_string()),
        news.cast(pa.large_string()),
        pa.scalar(":", pa.large_string()),
    )
    impression_events = event_frame(
        behaviors["user_id"].take(rows),
        pd.Series(news, dtype="str"),
        np.where(cand_label[labelled] == 1, "click", "impression"),
        behaviors["timestamp"].take(rows),
        event_id=pd.Series(event_id, dtype="str"),
    )
    events = pd.concat([_history_events(behaviors), impression_events], ignore_index=True)
    items = _read_news(news_file)
    zh_file = _zh_news_file(folder, zh_news)
    if zh_file is not None:
        missing = pd.Index(events["item_id"].unique()).difference(items["item_id"], sort=False)
        items = pd.concat([items, _read_zh_news(zh_file, missing)], ignore_index=True)
    return finish("mind", events, items, value_range=None, verbose=verbose)


def load_mind_impressions(path: PathLike) -> list[Impression]:
    """Every row of a MIND ``behaviors.tsv``, for impression-ranking evaluation.

    Parameters
    ----------
    path : path-like
        ``behaviors.tsv`` or the folder holding it.

    Returns
    -------
    list of Impression
        In file order; ``labels`` is an int8 array aligned with ``candidates``.
    """
    behaviors, behaviors_file = _read_behaviors(Path(path))
    cand_row, cand_news, cand_label = _expand_candidates(behaviors, behaviors_file)
    n = len(behaviors)
    cuts = np.cumsum(np.bincount(cand_row, minlength=n))[:-1]
    candidates = np.split(np.asarray(cand_news.to_pylist(), dtype=object), cuts)
    labels = np.split(cand_label, cuts)
    return [
        Impression(imp, user, float(ts), history.split(), cands.tolist(), lab)
        for imp, user, ts, history, cands, lab in zip(
            behaviors["impression_id"],
            behaviors["user_id"],
            behaviors["timestamp"],
            behaviors["history"],
            candidates if n else [],
            labels if n else [],
            strict=True,
        )
    ]


_BEHAVIOR_FIELDS = ("impression_id", "user_id", "time", "history", "impressions")
_NEWS_FIELDS = ("news_id", "category", "subcategory", "title", "abstract", "url",
                "title_entities", "abstract_entities")


def _read_behaviors(path: Path) -> tuple[pd.DataFrame, Path]:
    """``behaviors.tsv`` with ids stripped and a float ``timestamp`` column."""
    file = path if path.is_file() else require(path, "behaviors.tsv", "MIND behaviors")
    raw = read_delimited(file, _BEHAVIOR_FIELDS, sep="\t")
    for field in ("impression_id", "user_id"):
        raw[field] = raw[field].str.strip()
        require_values(raw, field, file)
    time = pd.to_datetime(raw["time"].str.strip(), format="%m/%d/%Y %I:%M:%S %p",
                          errors="coerce")
    bad = time.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataFormatError(str(file), int(raw["_line"].iloc[row]), "time",
                              f"expected M/D/YYYY h:mm:ss AM/PM, got {raw['time'].iloc[row]!r}")
    raw["timestamp"] = (time - pd.Timestamp(0)).dt.total_seconds()
    return raw, file


def _split_tokens(series: pd.Series) -> tuple[np.ndarray, Any]:
    """Whitespace-separated tokens of every row: (row of each token, arrow array of tokens)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    strings = pa.array(series, type=pa.large_string())
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    lists = pc.utf8_split_whitespace(strings)
    tokens = pc.list_flatten(lists)
    rows = np.asarray(pc.list_parent_indices(lists), dtype=np.int64)
    # An empty string splits into one empty token.
    keep = pc.greater(pc.utf8_length(tokens), 0)
    return rows[np.asarray(keep, dtype=bool)], tokens.filter(keep)


def _expand_candidates(behaviors: pd.DataFrame, path: Path) -> tuple[np.ndarray, Any, np.ndarray]:
    """One entry per impression candidate: row of ``behaviors``, news id, label (-1 unknown)."""
    import pyarrow.compute as pc

    rows, tokens = _split_tokens(behaviors["impressions"])
    parts = pc.extract_regex(tokens, r"^(?P<news>.*)-(?P<label>[^-]*)$")
    has_label = parts.is_valid()
    news = pc.if_else(has_label, parts.field("news"), tokens)
    label = np.asarray(parts.field("label").to_numpy(zero_copy_only=False), dtype=object)
    has_label_np = np.asarray(has_label, dtype=bool)
    clicked = has_label_np & (label == "1")
    valid = ~has_label_np | clicked | (label == "0")
    valid &= np.asarray(pc.greater(pc.utf8_length(news), 0), dtype=bool)
    if not valid.all():
        bad = int(np.flatnonzero(~valid)[0])
        raise DataFormatError(
            str(path), int(behaviors["_line"].iloc[rows[bad]]), "impressions",
            f"candidate {tokens[bad].as_py()!r} is not 'newsid-label' with label 0 or 1",
        )
    labels = np.where(has_label_np, clicked, -1).astype(np.int8)
    return rows, news, labels


def _history_events(behaviors: pd.DataFrame) -> pd.DataFrame:
    """The click history of each user once, timed just before their first impression."""
    rows, tokens = _split_tokens(behaviors["history"])
    n_hist = np.bincount(rows, minlength=len(behaviors))
    longest = (
        pd.DataFrame({"user_id": behaviors["user_id"], "n": n_hist})
        .sort_values("n", ascending=False, kind="stable")
        .drop_duplicates("user_id")
        .index.to_numpy()
    )
    chosen = np.zeros(len(behaviors), dtype=bool)
    chosen[longest] = True
    mask = chosen[rows]
    rows = rows[mask]
    # Tokens come row by row, so a token's position is its offset from the
    # first token of its row.
    position = np.arange(len(rows)) - np.searchsorted(rows, rows, side="left")
    first_seen = behaviors.groupby("user_id", sort=False)["timestamp"].transform("min")
    timestamp = first_seen.to_numpy(dtype=np.float64)[rows] - (n_hist[rows] - position)
    return event_frame(
        behaviors["user_id"].take(rows),
        pd.Series(tokens.filter(mask), dtype="str"),
        "click",
        timestamp,
    )


def _read_news(path: Path) -> pd.DataFrame:
    raw = read_delimited(path, _NEWS_FIELDS, sep="\t", data=utf8(path.read_bytes()))
    raw["news_id"] = raw["news_id"].str.strip()
    require_values(raw, "news_id", path)
    entities: dict[str, list[Any]] = {}
    for field in ("title_entities", "abstract_entities"):
        parsed: list[Any] = []
        for line, text in zip(raw["_line"], raw[field], strict=True):
            try:
                parsed.append(json.loads(text) if text.strip() else [])
            except json.JSONDecodeError as exc:
                raise DataFormatError(str(path), int(line), field,
                                      f"not valid JSON: {exc.msg}") from None
        entities[field] = parsed
    title = raw["title"].str.strip()
    abstract = raw["abstract"].str.strip()
    categories = [
        tuple(c for c in pair if c)
        for pair in zip(raw["category"].str.strip(), raw["subcategory"].str.strip(), strict=True)
    ]
    attributes = [
        {"url": url, "title_entities": te, "abstract_entities": ae, "lang": "en"}
        for url, te, ae in zip(raw["url"], entities["title_entities"],
                               entities["abstract_entities"], strict=True)
    ]
    text = [t + "\n" + a if a else t for t, a in zip(title, abstract, strict=True)]
    return item_frame(raw["news_id"], title, text, categories, attributes,
                       np.full(len(raw), np.nan))


_ZH_NEWS_FIELDS = ("nid", "title", "abstract")


def _zh_news_file(folder: Path, zh_news: PathLike | bool | None) -> Path | None:
    """The Chinese ``news.tsv`` that ``zh_news`` names, or None when not asked for."""
    if zh_news is None or zh_news is False:
        return None
    # Beside the folder as given (normalised, links not followed).
    beside = Path(os.path.abspath(folder)).parent / XMIND_ZH_FOLDER
    where = beside if zh_news is True else Path(zh_news)
    if where.is_file():
        return where
    if not where.is_dir():
        raise FileNotFoundError(errno.ENOENT, "xMIND Chinese news folder not found", str(where))
    return require(where, "news.tsv", "xMIND Chinese news")


def _read_zh_news(path: Path, news_ids: pd.Index) -> pd.DataFrame:
    """Items of the Chinese news in ``news_ids`` that have a title or an abstract."""
    raw = read_delimited(path, _ZH_NEWS_FIELDS, sep="\t", header=True)
    raw["nid"] = raw["nid"].str.strip()
    require_values(raw, "nid", path)
    raw = raw[raw["nid"].isin(news_ids)].drop_duplicates("nid")
    title = raw["title"].str.strip()
    abstract = raw["abstract"].str.strip()
    text = [t + "\n" + a if t and a else t + a for t, a in zip(title, abstract, strict=True)]
    has_text = np.asarray([bool(t) for t in text], dtype=bool)
    n = int(has_text.sum())
    return item_frame(raw["nid"][has_text], title[has_text],
                      np.asarray(text, dtype=object)[has_text], [()] * n,
                      [{"lang": "zh"} for _ in range(n)], np.full(n, np.nan))
