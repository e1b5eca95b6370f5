"""Item-to-item similarity and semantic search over item text."""

from __future__ import annotations

import numpy as np

from pulserec.engine.items import LiveItems
from pulserec.engine.modelset import ModelSet
from pulserec.engine.rank import Ranker
from pulserec.state.base import UserState
from pulserec.types import Scored


def similar(items: LiveItems, models: ModelSet | None, idx: int, k: int, n: int) -> list[Scored]:
    """Items like item ``idx``: co-visitation, factor-space and text similarity combined.

    ``n`` candidates are drawn from each of the three neighbourhoods.
    """
    pools = []
    if models is not None and idx < models.n_items:
        v = models.item_unit[idx]
        if np.linalg.norm(v) > 0:
            pools.append(models.cf_index.search(v[None], n)[0][0])
        row = models.covisit[idx]
        pools.append(row.indices[np.argsort(-row.data)[:n]])
    tv = items.text[idx] if items.encoder is not None else None
    if tv is not None and items.text_index is not None and np.linalg.norm(tv) > 0:
        pools.append(items.text_index.search(tv[None], n)[0][0])
    if not pools:
        return []
    cands = np.unique(np.concatenate(pools))
    cands = cands[(cands >= 0) & (cands != idx)]
    cands = cands[~np.isin(cands, items.deleted_array())]
    score = np.zeros(len(cands))
    if models is not None and idx < models.n_items:
        ok = cands < models.n_items
        score[ok] += models.item_unit[cands[ok]] @ models.item_unit[idx]
        cov = np.asarray(models.covisit[idx].todense()).ravel()
        if cov.max() > 0:
            score[ok] += cov[cands[ok]] / cov.max()
    if tv is not None:
        score += items.text[cands] @ tv
    order = np.argsort(-score, kind="stable")[:k]
    title = items.title(idx)
    at = items.catalog.at
    return [
        Scored(at(int(c)).item_id, float(score[j]), f"similar to {title}")
        for j, c in zip(order, cands[order], strict=True)
    ]


def search(
    ranker: Ranker,
    query_vector: np.ndarray,
    query: str,
    k: int,
    *,
    models: ModelSet | None = None,
    state: UserState | None = None,
    user_id: str | None = None,
) -> list[Scored]:
    """Items whose text matches a query embedding; a known user's interests tilt the order.

    The tilt is gentle (a tenth of the text similarity's scale): relevance stays first.
    """
    items = ranker.items
    if items.text_index is None:  # no item with text yet
        return []
    cands, sims = items.text_index.search(query_vector[None], max(k * 5, 50))
    ok = (cands[0] >= 0) & ~np.isin(cands[0], items.deleted_array())
    cands, sims = cands[0][ok], sims[0][ok].astype(np.float64)
    score = sims.copy()
    reason = [f"matches “{query}”"] * len(cands)
    known = state is not None or (models is not None and user_id in models.users)
    if user_id is not None and len(cands) and known:
        p = ranker.score(ranker.request(models, state, user_id), cands)
        if p.max() > p.min():
            score = sims + 0.1 * (p - p.min()) / (p.max() - p.min())
            reason = [f"matches “{query}” and your interests"] * len(cands)
    order = np.argsort(-score, kind="stable")[:k]
    at = items.catalog.at
    return [Scored(at(int(cands[j])).item_id, float(score[j]), reason[j]) for j in order]
