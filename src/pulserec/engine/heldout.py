"""The held-out window replayed: which candidate each user chose.

A refit (:class:`~pulserec.engine.training.Fitter`) fits early models on the log up to a
cut near its end, then replays the window after the cut through the real candidate
sources and features, event by event, with live signals and user states that know only
the past of each moment. Each positive event becomes a choice: the features of the
candidates the user had and which one they took (and, where the log holds the list they
were shown, the same among that list). :mod:`pulserec.engine.blend` fits the ranking
weights on these choices and measures rankings of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pulserec.catalog.catalog import Catalog
from pulserec.engine.arrays import member
from pulserec.engine.config import EngineConfig
from pulserec.engine.features import feature_matrix, terms
from pulserec.engine.fold import Folder
from pulserec.engine.items import LiveItems, live_signals
from pulserec.engine.modelset import ModelSet
from pulserec.engine.rank import Ranker
from pulserec.engine.segments import segment_of
from pulserec.engine.sources import Request
from pulserec.online.attribution import shown_lists as _shown_lists
from pulserec.ranking import ChoiceData
from pulserec.state.base import UserState
from pulserec.types import NEGATIVE_TYPES, Event

FIRST_CHOICES = 1000
"""Users' first choices before the window a refit ranks at most (a seeded sample): ten
times the choices a segment's own weights need. Each is a ranking call and a candidate
list held in memory until the fit (about 20 KB)."""

EARLY_USERS = 500
"""Users whose second and third choices before the window a refit ranks at most (a
seeded sample; up to twice as many choices as users), each among the candidates of a
user whose state holds only their events until then."""

_EARLY = "\x00early:"
"""The prefix of the user id an early choice is ranked under: no trained user vector is
found for it (the models before the window learned that user's later events too)."""


class HeldOutReplay:
    """Collects the choices of a held-out window against given models."""

    def __init__(
        self, items: LiveItems, config: EngineConfig, folder: Folder, ranker: Ranker
    ) -> None:
        self.items = items
        self.config = config
        self.folder = folder
        self.ranker = ranker

    def collect(
        self,
        models: ModelSet,
        before: pd.DataFrame,
        after: pd.DataFrame,
        *,
        first: ChoiceData | None = None,
    ) -> tuple[ChoiceData, ChoiceData]:
        """Replay the validation window: candidate features and the item actually chosen,
        among the retrieval candidates, and among the logged list it was taken from (where
        the log holds lists: ``impression`` events of the same user at the same time).

        ``first``, when given, receives users' early positive events before the window:
        first ones (a seeded sample of :data:`FIRST_CHOICES`), each ranked as a user
        without events among the candidates of that moment (:func:`first_events`), in
        segment 0; and second and third ones (:data:`EARLY_USERS` users, :func:`early_events`),
        each ranked for a user whose state holds only their events up to then, in the
        segment of that state."""
        cfg = self.config
        catalog = self.items.catalog
        rng = np.random.default_rng(cfg.random_state)
        states: dict[str, UserState] = {}

        def state_of(user_id: str) -> UserState:
            st = states.get(user_id)
            if st is None:
                st = states[user_id] = UserState(user_id, cfg.state)
            return st

        earlier = [row_event(row) for row in before.itertuples(index=False)]
        later = [row_event(row) for row in after.itertuples(index=False)]
        wanted = {e.user_id for e in later}
        for event in earlier:
            if event.user_id in wanted:
                self.folder.fold(state_of(event.user_id), event, False, models)
        data = ChoiceData([], [])
        live = live_signals(cfg)
        shown_before = _shown_lists(earlier, catalog)
        firsts: set[int] = set()
        seconds: dict[int, int] = {}  # an early choice's position -> its user's last one
        young: dict[str, UserState] = {}  # the states of those users, as they were then
        if first is not None:  # generators of their own: the window's sample stays as it was
            choices = first_choices(earlier, catalog)
            first_rng = np.random.default_rng([cfg.random_state or 0, 1])
            firsts = first_events(choices, FIRST_CHOICES, first_rng)
            early_rng = np.random.default_rng([cfg.random_state or 0, 2])
            seconds = early_events(choices, EARLY_USERS, early_rng)
        last_early = {earlier[j].user_id: end for j, end in seconds.items()}
        for j, event in enumerate(earlier):
            item_id = event.item_id
            idx = catalog.idx(item_id) if item_id is not None and item_id in catalog else None
            if idx is not None:
                if j in firsts and first is not None:
                    # a user without events: only what the crowd did up to now speaks
                    request = self.ranker.request(
                        models, None, "", live=live, n_items=models.n_items
                    )
                    if _add_choice(first, request, self.ranker.candidates(request), idx):
                        first.segment.append(0)
                    else:
                        first.missed += 1
                if j in seconds and first is not None:
                    st = young[event.user_id]
                    request = self.ranker.request(
                        models, st, st.user_id, live=live, n_items=models.n_items
                    )
                    cands = self.ranker.candidates(request)
                    if _add_choice(first, request, cands[~member(cands, st.seen_items())], idx):
                        first.segment.append(segment_of(st))
            if j <= last_early.get(event.user_id, -1):
                st = young.get(event.user_id) or UserState(_EARLY + event.user_id, cfg.state)
                young[event.user_id] = st
                self.folder.fold(st, event, False, models)
                if j == last_early[event.user_id]:
                    del young[event.user_id]
            if idx is not None:
                if _positive(event):
                    taken = (event.user_id, event.timestamp) in shown_before
                    live.add(idx, event.timestamp, user_id=event.user_id, listed=taken)
                elif event.type == "impression":
                    live.shown(idx)
        shown = _shown_lists(later, catalog)
        # the held-out choices: positive events on known items, a seeded sample of them
        # ranked among the retrieval candidates, and those taken from a logged list among
        # that list
        eligible = np.array([_positive(e) and e.item_id in catalog for e in later], dtype=bool)
        picked = np.flatnonzero(eligible)
        if len(picked) > cfg.max_fit_lists:
            picked = np.sort(rng.choice(picked, cfg.max_fit_lists, replace=False))
        keep = np.zeros(len(later), dtype=bool)
        keep[picked] = True
        from_list = eligible & np.array([(e.user_id, e.timestamp) in shown for e in later])
        if from_list.sum() > cfg.max_fit_lists:
            listed_rows = np.flatnonzero(from_list)
            from_list[:] = False
            from_list[rng.choice(listed_rows, cfg.max_fit_lists, replace=False)] = True
        lists = ChoiceData([], [])
        for j, event in enumerate(later):
            st = state_of(event.user_id)
            known = _positive(event) and event.item_id in catalog
            if keep[j] or from_list[j]:
                target = catalog.idx(event.item_id)  # type: ignore[arg-type]
                request = self.ranker.request(
                    models, st, event.user_id, live=live, n_items=models.n_items
                )
                if keep[j]:
                    cands = self.ranker.candidates(request)
                    unseen = cands[~member(cands, st.seen_items())]
                    if _add_choice(data, request, unseen, target):
                        data.segment.append(segment_of(st))
                        data.events.append(j)
                if from_list[j]:  # the list the user chose from was logged
                    listed = shown[(event.user_id, event.timestamp)]
                    _add_choice(lists, request, np.unique(np.r_[listed, target]), target)
            previous = st.recent_items(cfg.live_covisit_window) if known else []
            self.folder.fold(st, event, False, models)
            if known:
                item = catalog.idx(event.item_id)  # type: ignore[arg-type]
                taken = (event.user_id, event.timestamp) in shown
                live.add(
                    item, event.timestamp, previous, event.user_id, listed=taken, models=models
                )
            elif event.type == "impression" and event.item_id in catalog:
                live.shown(catalog.idx(event.item_id))  # type: ignore[arg-type]
        data.missed = int(keep.sum()) - len(data)
        return data, lists


def first_events(choices: dict[str, list[int]], n: int, rng: np.random.Generator) -> set[int]:
    """Positions in the events of a seeded sample of at most ``n`` users' first positive
    events on catalog items (``choices``: :func:`first_choices` of those events).

    A user without events is ranked by what the crowd does (trending at each scale, how
    often items were taken), and the weights for that ranking are fitted on choices of
    such users. The held-out window holds few of them where users stay for long (25 on
    ml-100k, 9 on ml-latest-small), while every user of the log made a first choice once.
    The first event of a log cut to a window may be a returning user's, whose choice the
    window does not explain: such a sample holds returning users too."""
    found = [positions[0] for positions in choices.values()]
    if len(found) > n:
        found = rng.choice(found, n, replace=False).tolist()
    return set(found)


def early_events(choices: dict[str, list[int]], n: int, rng: np.random.Generator) -> dict[int, int]:
    """Positions in the events of the second and third positive events on new catalog
    items of a seeded sample of at most ``n`` users, each mapped to the position of that
    user's last one (``choices``: :func:`first_choices` of those events).

    The held-out window holds few choices of users with one or two items where users
    stay for long (61 on ml-100k), while most users of the log made such choices once.
    Each is ranked for a user whose state holds their events up to it; the models were
    fitted on these events too, so a trained user vector is not used, while item-side
    counts include the user's own (one user among those every count sums)."""
    found = {u: at[1:] for u, at in choices.items() if len(at) > 1}
    users = sorted(found)
    if len(users) > n:
        users = [users[k] for k in np.sort(rng.choice(len(users), n, replace=False))]
    return {j: found[u][-1] for u in users for j in found[u]}


def first_choices(events: list[Event], catalog: Catalog, upto: int = 3) -> dict[str, list[int]]:
    """Each user's first ``upto`` positive events on distinct catalog items: their
    positions in ``events`` (in time order), the users in the order of their first one.
    One scan, read by both :func:`first_events` and :func:`early_events`."""
    taken: dict[str, list[str]] = {}
    found: dict[str, list[int]] = {}
    for j, event in enumerate(events):
        if not _positive(event) or event.item_id not in catalog:
            continue
        items = taken.setdefault(event.user_id, [])
        if len(items) < upto and event.item_id not in items:
            items.append(event.item_id)  # type: ignore[arg-type]
            found.setdefault(event.user_id, []).append(j)
    return found


def _add_choice(data: ChoiceData, request: Request, cands: np.ndarray, target: int) -> bool:
    """Record that ``target`` was chosen among ``cands``; False (nothing recorded) when it
    is not one of them or there was no choice."""
    at = np.flatnonzero(cands == target)
    if len(cands) < 2 or not len(at):
        return False
    data.features.append(terms(feature_matrix(request, cands)).astype(np.float32))
    data.chosen.append(int(at[0]))
    return True


def _positive(event: Event) -> bool:
    return event.item_id is not None and event.type not in NEGATIVE_TYPES


def row_event(row: Any) -> Event:
    """The event of one row of :func:`~pulserec.engine.training.events_frame`."""
    value = None if row.value is None or pd.isna(row.value) else float(row.value)
    text = row.text if isinstance(row.text, str) else None
    item_id = row.item_id if isinstance(row.item_id, str) else None
    return Event(str(row.user_id), item_id, row.type, float(row.timestamp), value, text)
