"""The best lists a recommender could make on a generated log, from its true process.

A generated log (:mod:`pulserec.evaluation.synthetic`) draws each event's item from
known probabilities: the current hot set with probability ``trend_strength``, else an
item of the event's topic (or, with probability ``noise``, of any topic) by its appeal in
that window. With those probabilities a replay's scored events can be ranked as well as
anything can rank them, three ways:

* ``crowd``: the user unknown (their topic at its uniform prior): the best list that does
  not read the user, what a perfect real-time-off or trending list would reach;
* ``frozen``: the user's topic inferred from their events before the replay's cut alone,
  moved on by the drift at each later event but never by what it was: the best list of a
  real-time-off run, which keeps the user's state as it was at the cut;
* ``bayes``: the user's topic inferred from their events before (a hidden Markov chain: at
  each event the topic switches to a random one with probability ``drift``), the best list
  that reads the user's history, what perfect real-time capture would reach;
* ``topic``: the event's own topic known, a ceiling no recommender reaches (the topic is
  never observed).

Each ranks the items the user has not taken (as the replay does) by their probability
(ties broken at random: :func:`hit_rate` gives each event's chance of a hit). ``bayes /
frozen`` is then the most that real-time capture can add on that shape, against which a
replay's real time on / off can be read.

Examples
--------
>>> from pulserec.evaluation.synthetic import generate_with_truth, shape_of
>>> from pulserec.evaluation.replay import plan_replay
>>> ds, truth = generate_with_truth(shape_of("shop-like", n_users=200, n_items=300), seed=1)
>>> places = oracle_places(plan_replay(ds), truth)
>>> hits = {kind: hit_rate(place).mean() for kind, place in places.items()}
>>> bool(hits["frozen"] <= hits["bayes"] <= hits["topic"])
True
"""

from __future__ import annotations

import numpy as np

from pulserec.evaluation.replay import ReplayPlan
from pulserec.evaluation.synthetic import Truth

KINDS = ("crowd", "frozen", "bayes", "topic")


class _Window:
    """One window's item probabilities, given a distribution over the event's topic."""

    def __init__(self, truth: Truth, w: int) -> None:
        shape = truth.shape
        appeal = truth.appeal[w]
        k = shape.n_topics
        per_topic = np.bincount(truth.topic, weights=appeal, minlength=k)
        total = float(appeal.sum()) or 1.0
        self.topic = truth.topic
        self.empty = per_topic <= 0  # a topic with nothing available: any item instead
        trend, noise = shape.trend_strength, shape.noise
        hot = np.zeros(len(appeal))
        hot[truth.hot[w]] = 1.0 / max(len(truth.hot[w]), 1)
        self.anywhere = (1.0 - trend) * appeal / total
        self.base = trend * hot + noise * self.anywhere
        safe = np.where(per_topic > 0, per_topic, 1.0)
        self.own = (1.0 - trend) * (1.0 - noise) * appeal / safe[truth.topic]
        self.own[self.empty[truth.topic]] = 0.0
        self.noise = noise

    def probabilities(self, topic_p: np.ndarray) -> np.ndarray:
        """Each item's probability when the event's topic has distribution ``topic_p``."""
        spread = (1.0 - self.noise) * float(topic_p[self.empty].sum())
        out: np.ndarray = self.base + spread * self.anywhere + self.own * topic_p[self.topic]
        return out

    def likelihood(self, item: int) -> np.ndarray:
        """The probability of ``item`` under each topic."""
        out = np.full(len(self.empty), self.base[item])
        out += np.where(self.empty, (1.0 - self.noise) * self.anywhere[item], 0.0)
        out[self.topic[item]] += self.own[item]
        return out


def _place(p: np.ndarray, target: int, seen: set[int]) -> tuple[int, int]:
    """How many items not in ``seen`` rank above ``target``, and how many tie with it."""
    above, tied = p > p[target], p == p[target]
    tied[target] = False
    if seen:
        idx = np.fromiter(seen, dtype=np.int64, count=len(seen))
        above[idx] = False
        tied[idx] = False
    return int(above.sum()), int(tied.sum())


def hit_rate(place: np.ndarray, k: int = 10) -> np.ndarray:
    """Each event's chance that its item is in the top ``k``, ties broken at random;
    ``place`` holds (items above, items tied) per event."""
    above, tied = place[:, 0].astype(np.float64), place[:, 1].astype(np.float64)
    return np.clip((k - above) / (tied + 1.0), 0.0, 1.0)


def oracle_places(plan: ReplayPlan, truth: Truth) -> dict[str, np.ndarray]:
    """Per oracle (:data:`KINDS`), where each of the plan's scored events' items stands:
    ``(n_scored, 2)``, the items ranked above it and those tied with it (the user's taken
    items left out), in the plan's order of scored events; :func:`hit_rate` reads it."""
    shape = truth.shape
    k = shape.n_topics
    uniform = np.full(k, 1.0 / k)
    stay = 1.0 - shape.drift
    windows: dict[int, _Window] = {}

    def window(ts: float) -> _Window:
        w = truth.window(ts)
        if w not in windows:
            windows[w] = _Window(truth, w)
        return windows[w]

    def index(item_id: str) -> int:
        return int(item_id[1:])  # the generator's ids: "i<index>"

    posterior: dict[str, np.ndarray] = {}  # after each user's latest event
    seen: dict[str, set[int]] = {}

    def observe(user: str, item: int, win: _Window) -> None:
        prior = _next_topic(posterior.get(user), uniform, stay)
        post = prior * win.likelihood(item)
        posterior[user] = post / post.sum() if post.sum() > 0 else prior
        seen.setdefault(user, set()).add(item)

    for event in plan.train:
        if event.item_id is not None:
            observe(event.user_id, index(event.item_id), window(event.timestamp))
    frozen = dict(posterior)  # at the cut; only the drift moves it from here
    out = {kind: np.zeros((plan.n_scored, 2), dtype=np.int64) for kind in KINDS}
    j = 0
    for step, event in enumerate(plan.test):
        if event.item_id is None:
            continue
        user, item, win = event.user_id, index(event.item_id), window(event.timestamp)
        if plan.scored[step]:
            taken = seen.get(user, set())
            truth_p = np.zeros(k)
            truth_p[truth.event_topic[(user, event.item_id)]] = 1.0
            for kind, topic_p in (
                ("crowd", uniform),
                ("frozen", _next_topic(frozen.get(user), uniform, stay)),
                ("bayes", _next_topic(posterior.get(user), uniform, stay)),
                ("topic", truth_p),
            ):
                out[kind][j] = _place(win.probabilities(topic_p), item, taken)
            j += 1
        observe(user, item, win)
        if user in frozen:
            frozen[user] = _next_topic(frozen[user], uniform, stay)
    return out


def _next_topic(post: np.ndarray | None, uniform: np.ndarray, stay: float) -> np.ndarray:
    """The topic distribution of a user's next event: a new user's is uniform; otherwise
    it stays with probability ``stay``, else is drawn anew."""
    if post is None:
        return uniform
    return stay * post + (1.0 - stay) * uniform
