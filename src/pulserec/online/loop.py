"""The online loop the engine holds: serve a list, attribute events, run experiments.

:class:`OnlineLoop` ties the served-list log (:mod:`.log`), the attribution rule
(:mod:`.attribution`), the online metrics (:mod:`.counts`) and experiments
(:mod:`.experiments`, :mod:`.stats`) to one store (:mod:`.stores`). It restores itself from
that store at start (lists and attributions within the retention, every experiment).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from pulserec.config import OnlineSettings
from pulserec.online.attribution import Attributor, kind_of
from pulserec.online.base import Attribution, OnlineStore, ServedList
from pulserec.online.counts import OnlineCounts
from pulserec.online.experiments import Experiment, Overrides, Variant
from pulserec.online.log import ListLog
from pulserec.online.stats import compare, decision_p, ratio_estimate
from pulserec.types import Event

REFRESH_S = 5.0
"""How often a shared store's experiment definitions are re-read."""

MIN_CLICKS = 30
"""Below this many clicks in a variant the report warns that the sample is small."""


class ExperimentError(ValueError):
    """A request about experiments that cannot be met; ``field`` names why."""

    def __init__(self, field: str | None, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status


class OnlineLoop:
    """Served lists, attribution, online metrics and experiments of one deployment."""

    def __init__(self, store: OnlineStore, settings: OnlineSettings | None = None) -> None:
        self.settings = settings or OnlineSettings()
        self.store = store
        s = self.settings
        self.log = ListLog(store, flush_s=s.flush_s, batch=s.flush_batch, max_buffer=s.max_buffer)
        self.attributor = Attributor(s.attribution_window_s, s.lists_per_user)
        self.counts = OnlineCounts(s.retention_s)
        self.experiments: dict[str, Experiment] = {}
        # (experiment, variant) -> user -> [lists, impressions, clicks, conversions]
        self.tally: dict[tuple[str, str], dict[str, np.ndarray]] = defaultdict(dict)
        self._lock = threading.RLock()
        self.shared = bool(getattr(store, "shared", False))
        self._refreshed = time.monotonic()

    # ------------------------------------------------------------ lifecycle
    def restore(self, now: float | None = None) -> OnlineLoop:
        """Rebuild experiments, metrics and attribution state from the store."""
        now = time.time() if now is None else now
        since = now - self.settings.retention_s
        with self._lock:
            for doc in self.store.experiments().values():
                e = Experiment.from_json(doc)
                self.experiments[e.name] = e
            for s in self.store.lists(since=min(since, self._oldest_running())):
                self._count_list(s)
            for a in self.store.attributions(since=min(since, self._oldest_running())):
                self.attributor.note_credited(a)
                self._count_attribution(a)
        return self

    def _oldest_running(self) -> float:
        running = [e.created_at for e in self.experiments.values() if e.status == "running"]
        return min(running, default=float("inf"))

    def start(self) -> OnlineLoop:
        """Start writing served lists in the background."""
        self.log.start()
        return self

    def close(self) -> None:
        """Write what is waiting and stop."""
        self.log.close()

    # -------------------------------------------------------------- serving
    def running(self) -> Experiment | None:
        """The experiment running now (one at a time), if any.

        With a store several processes share, definitions are re-read every
        ``REFRESH_S`` seconds, so an experiment created or stopped through one API
        process reaches the others within that time.
        """
        if self.shared and time.monotonic() - self._refreshed > REFRESH_S:
            self._refreshed = time.monotonic()
            try:
                for doc in self.store.experiments().values():
                    e = Experiment.from_json(doc)
                    self.experiments[e.name] = e
            except Exception:  # keep serving with the definitions held
                pass
        for e in self.experiments.values():
            if e.status == "running":
                return e
        return None

    def assign(self, user_id: str) -> tuple[Experiment | None, Variant | None]:
        """The running experiment and the user's variant in it (None outside)."""
        e = self.running()
        if e is None or not user_id:
            return e, None
        return e, e.variant_of(user_id)

    def realtime(self, user_id: str, seq: int | None) -> bool:
        """False when the user's event ``seq`` (None: one being ingested now) falls in an
        experiment whose variant for them keeps interests still."""
        for e in self.experiments.values():
            if seq is None and e.status != "running":
                continue
            if seq is not None and not e.covers(seq):
                continue
            v = e.variant_of(user_id)
            if v is not None and v.overrides.realtime is False:
                return False
        return True

    def serve(
        self, user_id: str, placement: str, item_ids: Sequence[str], *,
        now: float | None = None, novelty: float = 0.0,
    ) -> ServedList:  # fmt: skip
        """Log a list about to be answered; it is attributable at once."""
        e, v = self.assign(user_id)
        served = ServedList(
            uuid.uuid4().hex, user_id, placement, v.name if v else "",
            time.time() if now is None else now, tuple(item_ids), novelty,
            e.name if (e is not None and v is not None) else "",
        )  # fmt: skip
        with self._lock:
            self._count_list(served)
        self.log.add(served)
        return served

    def _count_list(self, s: ServedList) -> None:
        self.attributor.add(s)
        self.counts.add_list(s)
        if s.experiment and s.user_id:
            row = self.tally[(s.experiment, s.variant)].setdefault(s.user_id, np.zeros(4))
            row[0] += 1
            row[1] += len(s.item_ids)

    def _count_attribution(self, a: Attribution) -> None:
        self.counts.add_attribution(a)
        if a.experiment:
            row = self.tally[(a.experiment, a.variant)].setdefault(a.user_id, np.zeros(4))
            row[2 if kind_of(a.type) == "click" else 3] += 1

    def attribute(self, events: Sequence[Event], accepted: Sequence[bool]) -> list[Attribution]:
        """Credit accepted events to served lists and store the credits durably (before
        the caller acknowledges the events)."""
        found = self.prepare([e for e, ok in zip(events, accepted, strict=True) if ok],
                             sync=True)  # fmt: skip
        return self.settle(found, [True] * len(found))

    def prepare(self, events: Sequence[Event], *, sync: bool = False) -> list[Attribution | None]:
        """Credit events *before* they are appended to the log, and write the credits.

        With ``sync=False`` a store sharing a write-ahead log with the events (SQLite)
        writes them without a flush of their own: the events' durable commit, which comes
        next, flushes both, so an attributed click costs one fsync, not two. Pass the
        result to :meth:`settle` with which events the log accepted, or to :meth:`discard`
        when the append failed. Returns one entry per event (None: not attributed).
        """
        found: list[Attribution | None] = []
        with self._lock:
            for event in events:
                found.append(self.attributor.attribute(event, self._lookup))
        rows = [a for a in found if a is not None]
        if rows:
            try:
                self.store.append_attributions(rows, sync=sync)
            except BaseException:
                self._uncredit(rows)
                raise
        return found

    def settle(self, found: Sequence[Attribution | None],
               accepted: Sequence[bool]) -> list[Attribution]:  # fmt: skip
        """Count the credits of accepted events; remove those of events the log refused
        (retries of an event already stored)."""
        keep = [a for a, ok in zip(found, accepted, strict=True) if a is not None and ok]
        drop = [a for a, ok in zip(found, accepted, strict=True) if a is not None and not ok]
        if drop:
            self.discard(drop)
        with self._lock:
            for a in keep:
                self._count_attribution(a)
        return keep

    def discard(self, found: Sequence[Attribution | None]) -> None:
        """Undo :meth:`prepare` for events that were not stored."""
        rows = [a for a in found if a is not None]
        if rows:
            self.store.delete_attributions(rows)
            self._uncredit(rows)

    def _uncredit(self, rows: Sequence[Attribution]) -> None:
        with self._lock:
            for a in rows:
                self.attributor.credited.pop((a.recommendation_id, a.position, kind_of(a.type)),
                                             None)  # fmt: skip

    def _lookup(self, recommendation_id: str) -> ServedList | None:
        try:
            return self.store.get_list(recommendation_id)
        except Exception:  # an unknown id then falls back to the window rule
            return None

    def forget_user(self, user_id: str) -> None:
        """Drop a user's lists and attributions here and in the store."""
        self.log.flush()
        with self._lock:
            self.attributor.forget_user(user_id)
            for users in self.tally.values():
                users.pop(user_id, None)
        self.store.delete_user(user_id)

    # ---------------------------------------------------------- experiments
    def create(
        self, name: str, variants: Sequence[dict[str, Any]], *, horizon_users: int,
        start_seq: int, sources: set[str], features: set[str], now: float | None = None,
        salt: str = "",
    ) -> Experiment:  # fmt: skip
        """Start an experiment (409 while another runs; 422 for a bad definition)."""
        with self._lock:
            if not name or not name.strip():
                raise ExperimentError("name", "an experiment needs a non-empty name")
            if name in self.experiments:
                raise ExperimentError("name", f"experiment {name!r} exists already", 409)
            running = self.running()
            if running is not None:
                raise ExperimentError(
                    None, f"experiment {running.name!r} is running: stop it first", 409
                )
            if len(variants) < 2:
                raise ExperimentError("variants", "an experiment needs at least two variants")
            e = Experiment(name, [], time.time() if now is None else now, start_seq,
                           horizon_users=horizon_users, salt=salt)  # fmt: skip
            for i, raw in enumerate(variants):
                self._add(e, raw, f"variants.{i}", sources, features)
            self.store.put_experiment(name, e.to_json())
            self.experiments[name] = e
            return e

    def add_variant(
        self, name: str, raw: dict[str, Any], *, sources: set[str], features: set[str]
    ) -> Experiment:
        """Add a variant to a running experiment from unassigned traffic."""
        with self._lock:
            e = self.get(name)
            if e.status != "running":
                raise ExperimentError(None, f"experiment {name!r} is {e.status}", 409)
            self._add(e, raw, "variant", sources, features)
            self.store.put_experiment(name, e.to_json())
            return e

    @staticmethod
    def _add(e: Experiment, raw: dict[str, Any], field: str, sources: set[str],
             features: set[str]) -> None:  # fmt: skip
        try:
            overrides = Overrides.parse(dict(raw.get("overrides") or {}), sources=sources,
                                        features=features)  # fmt: skip
            e.add_variant(str(raw.get("name", "")), float(raw.get("share", 0.0)), overrides)
        except (ValueError, TypeError) as exc:
            raise ExperimentError(field, str(exc)) from None

    def get(self, name: str) -> Experiment:
        e = self.experiments.get(name)
        if e is None:
            raise ExperimentError("name", f"no experiment named {name!r}", 404)
        return e

    def stop(self, name: str, *, stop_seq: int, now: float | None = None) -> Experiment:
        """Stop assigning users; the report stays."""
        with self._lock:
            e = self.get(name)
            if e.status == "running":
                e.status, e.stop_seq = "stopped", stop_seq
                e.stopped_at = time.time() if now is None else now
                self.store.put_experiment(name, e.to_json())
            return e

    def conclude(self, name: str, winner: str | None, *, stop_seq: int) -> Experiment:
        """Stop (if running) and record the variant chosen (or none)."""
        with self._lock:
            if winner is not None and winner not in {v.name for v in self.get(name).variants}:
                raise ExperimentError("winner", f"{winner!r} is not a variant of {name!r}")
            e = self.stop(name, stop_seq=stop_seq)
            e.status, e.winner = "concluded", winner
            self.store.put_experiment(name, e.to_json())
            return e

    def per_user(self, name: str, variant: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Impressions, clicks and conversions per user of one variant."""
        with self._lock:
            rows = list(self.tally.get((name, variant), {}).values())
        a = np.array(rows).reshape(-1, 4)
        return a[:, 1], a[:, 2], a[:, 3]

    def report(self, name: str) -> dict[str, Any]:
        """Per-variant CTR, and each variant against the first (the control)."""
        e = self.get(name)
        variants, estimates, per_user = [], [], []
        for v in e.variants:
            shown, clicks, conv = self.per_user(name, v.name)
            r = ratio_estimate(clicks, shown)
            estimates.append(r)
            per_user.append((clicks, shown))
            variants.append({
                "name": v.name, "share": v.share, "overrides": v.overrides.to_dict(),
                "users": r.users, "impressions": int(r.impressions), "clicks": int(r.clicks),
                "conversions": int(conv.sum()), "ctr": r.ctr,
                "ctr_low": r.ctr - 1.96 * r.se if r.users > 1 else None,
                "ctr_high": r.ctr + 1.96 * r.se if r.users > 1 else None,
            })  # fmt: skip
        final = all(r.users >= e.horizon_users for r in estimates)
        warnings = []
        for v, r in zip(e.variants, estimates, strict=True):
            if r.clicks < MIN_CLICKS:
                warnings.append(f"variant {v.name!r}: {int(r.clicks)} clicks (< {MIN_CLICKS}): "
                                "too few for the normal approximation")  # fmt: skip
            if r.users < e.horizon_users:
                warnings.append(f"variant {v.name!r}: {r.users} of {e.horizon_users} users: "
                                "the horizon is not reached, p-values are interim")  # fmt: skip
        comparisons = []
        control = estimates[0]
        for v, r, arrays in zip(e.variants[1:], estimates[1:], per_user[1:], strict=True):
            c = compare(control, r)
            p, test = decision_p(per_user[0], arrays, c.p_value)
            comparisons.append({
                "variant": v.name, "control": e.variants[0].name, "diff": c.diff,
                "ci_low": c.low, "ci_high": c.high, "p_value": p, "test": test,
                "p_value_z": c.p_value, "relative": c.relative,
                "significant": bool(final and p < 0.05),
            })  # fmt: skip
        return {
            "name": e.name, "status": e.status, "winner": e.winner, "created_at": e.created_at,
            "horizon_users": e.horizon_users, "final": final,
            "method": "CTR = clicks / impressions summed per user; users are the independent "
            "units; 95% interval from the delta-method variance over users; p-value from a "
            "two-sided permutation test over users (2,000 random reassignments; the z-test's "
            "above 5,000 users, see each comparison's test); fixed horizon: significant "
            "only once every variant has horizon_users users",
            "variants": variants, "comparisons": comparisons, "warnings": warnings,
        }  # fmt: skip

    def describe(self, e: Experiment) -> dict[str, Any]:
        """An experiment's definition as JSON-ready values."""
        return {
            "name": e.name, "status": e.status, "created_at": e.created_at,
            "stopped_at": e.stopped_at, "winner": e.winner, "horizon_users": e.horizon_users,
            "variants": [{"name": v.name, "share": v.share, "overrides": v.overrides.to_dict()}
                         for v in e.variants],
        }  # fmt: skip

    def summary(self, window_s: float, n_items: int, now: float | None = None) -> dict[str, Any]:
        """Online metrics of the last ``window_s`` seconds (see :mod:`.counts`)."""
        with self._lock:
            out = self.counts.summary(window_s, time.time() if now is None else now, n_items)
        out["lists_dropped"] = self.log.dropped
        out["lists_waiting"] = self.log.pending()
        return out
