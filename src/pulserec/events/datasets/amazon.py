"""Amazon product reviews (the 2014 and 2018 JSON-lines dumps) as comment events."""

from __future__ import annotations

import errno
from pathlib import Path

import pandas as pd

from pulserec.events.base import Dataset
from pulserec.events.files import PathLike, read_jsonl, stem
from pulserec.events.frames import event_frame, finish, join_optional


def load_amazon_reviews(path: PathLike, *, verbose: bool = True) -> Dataset:
    """Load Amazon review JSON lines (2014 / 2018 dumps) as ``comment`` events.

    ``user_id`` = ``reviewerID``, ``item_id`` = ``asin``, ``value`` = ``overall``
    (1-5), ``timestamp`` = ``unixReviewTime``, ``text`` = ``summary`` + newline +
    ``reviewText`` (whichever exists).

    Duplicates: the 2018 dump repeats a review once per product variant. Rows
    that are identical as events (same user, item, time, rating and text) are
    removed by cleaning and counted as ``duplicate``. Rows that repeat a
    (user, item) pair with a different time, rating or text are kept: they are
    separate comments, and a model that wants one interaction per pair
    collapses them itself (as :class:`~pulserec.events.interactions.Interactions`
    does).

    Parameters
    ----------
    path : path-like
        A ``.json`` / ``.json.gz`` file, or a folder holding exactly one
        (``meta_*`` files are ignored).
    verbose : bool
        Print the cleaning report.

    Returns
    -------
    Dataset
        Items are one per ``asin`` with ``title`` = the asin: reviews carry no
        item metadata.
    """
    file = _find_json(Path(path))
    records = read_jsonl(file)
    frame = pd.DataFrame.from_records(
        records, columns=["reviewerID", "asin", "overall", "unixReviewTime", "summary",
                          "reviewText"]
    )
    text = join_optional(frame["summary"], frame["reviewText"])
    events = event_frame(frame["reviewerID"], frame["asin"], "comment", frame["unixReviewTime"],
                          value=frame["overall"], text=text)
    return finish(stem(file), events, None, value_range=(1.0, 5.0), verbose=verbose)


def _find_json(path: Path) -> Path:
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(errno.ENOENT, "expected an Amazon reviews .json or .json.gz file "
                                "or a folder holding one", str(path))
    found = sorted(
        p for p in path.iterdir()
        if p.is_file() and p.name.endswith((".json", ".json.gz", ".jsonl", ".jsonl.gz"))
        and not p.name.startswith("meta_")
    )
    if not found:
        raise FileNotFoundError(errno.ENOENT, "no reviews .json / .json.gz file in folder",
                                str(path))
    if len(found) > 1:
        raise ValueError(f"{path}: several review files {[p.name for p in found]}; pass one")
    return found[0]
