"""The engine's settings: how it retrieves, ranks and learns, and the user state's update
rule (the ``engine`` section of :class:`pulserec.config.Settings`, and its ``state``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from pulserec.config_base import DEFAULT_SEED, Section, split_commas
from pulserec.types import EVENT_TYPES

if TYPE_CHECKING:
    from pulserec.engine import EngineConfig
    from pulserec.state.base import StateConfig


class StateSettings(Section):
    """The online user state's update rule (``pulserec.state.base.StateConfig``)."""

    half_life_s: float = Field(
        default=6 * 3600.0,
        gt=0.0,
        description="Half-life of the short-term interest vectors, in seconds between a "
        "user's events.",
    )
    event_decay: float = Field(
        default=0.85,
        ge=0.0,
        le=1.0,
        description="Further decay of short-term interest at each event, on top of the "
        "half-life: the newest event always counts most.",
    )
    max_recent: int = Field(
        default=50, ge=1, description="Latest items kept per user (the transformer reads them)."
    )
    max_seen: int = Field(
        default=2000, ge=1, description="Items remembered per user as seen, and so not recommended."
    )
    max_negatives: int = Field(
        default=500,
        ge=1,
        description="Items remembered per user as disliked, skipped or shown without a click.",
    )
    max_queries: int = Field(default=10, ge=1, description="Latest search queries kept per user.")
    impression_threshold: int = Field(
        default=3,
        ge=1,
        description="Impressions without engagement after which an item is pushed down.",
    )
    rating_slope: float = Field(
        default=0.35,
        ge=0.0,
        description="Weight a rating gains (loses) per star above (below) the user's mean.",
    )
    type_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "view": 0.5,
            "click": 1.0,
            "cart": 2.0,
            "purchase": 3.0,
            "rate": 1.0,
            "like": 2.0,
            "comment": 1.0,
            "search": 1.0,
            "dislike": -1.0,
            "skip": -0.3,
            "impression": 0.0,
        },
        description="How strongly each event type moves interest, a JSON object; negative "
        "pushes away. Types left out weigh 0.",
    )

    @field_validator("type_weights")
    @classmethod
    def _known_types(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - EVENT_TYPES)
        if unknown:
            raise ValueError(f"unknown event type(s) {unknown}; known: {sorted(EVENT_TYPES)}")
        return value

    def to_state_config(self) -> StateConfig:
        """The :class:`~pulserec.state.base.StateConfig` these settings describe."""
        from pulserec.state.base import StateConfig

        return StateConfig(**self.model_dump())


class EngineSettings(Section):
    """How the engine retrieves, ranks and learns (``pulserec.engine.EngineConfig``)."""

    sources: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(
            "ann",
            "factor",
            "covisit",
            "sequential",
            "trending",
            "text",
            "trending_fast",
            "session",
            "category",
            "popular",
            "newest",
        ),
        description="Candidate sources, comma-separated (trending also fills in when the "
        "others find nothing).",
    )
    n_candidates: int = Field(
        default=100,
        ge=1,
        description="Candidates each source proposes per request, before ranking.",
    )
    n_factors: int = Field(default=64, ge=1, description="Size of the ALS user and item vectors.")
    als_regularization: float = Field(default=0.05, ge=0.0, description="L2 penalty of ALS.")
    als_alpha: float = Field(
        default=2.0, gt=0.0, description="ALS confidence per unit of interaction weight."
    )
    als_epochs: int = Field(default=15, ge=1, description="ALS sweeps per refit.")
    factor_trainer: Literal["implicit", "spark"] = Field(
        default="implicit",
        description="What fits the factor model at a refit: implicit, in the refitting "
        "process; or Spark MLlib on engine.spark_master, from the log exported to Parquet "
        "(needs pulserec[spark] and a Java runtime).",
    )
    spark_master: str = Field(
        default="local[2]",
        description="Spark master URL the factor model is fitted on with factor_trainer "
        "spark: local[N], spark://host:7077, yarn, k8s://...",
    )
    spark_dir: str = Field(
        default="",
        description="Folder the Parquet export and id maps are written to for Spark, at a "
        "path every executor reads (a shared mount on a cluster); empty: the system's "
        "temporary folder.",
    )
    spark_regularization: float = Field(
        default=0.1,
        ge=0.0,
        description="Spark ALS regParam. Spark scales it by each user's and item's "
        "interaction count, so it is not engine.als_regularization.",
    )
    covisit_window: int = Field(
        default=10, ge=1, description="Co-visitation pairs items at most this many events apart."
    )
    covisit_top_n: int = Field(
        default=100, ge=1, description="Co-visitation neighbours kept per item."
    )
    sequential: bool = Field(
        default=True,
        description="Fit the sequential transformer at each refit and rank with it (off: "
        "refits take seconds instead of minutes on large logs).",
    )
    sequential_min_events: int = Field(
        default=200,
        ge=0,
        description="Fewer positive events than this and no transformer is fitted.",
    )
    sequential_params: dict[str, Any] = Field(
        default_factory=lambda: {"n_threads": 1, "patience": 3},
        description="Arguments of the transformer (SequentialTransformer), a JSON object. One "
        "torch thread leaves a core to serving; patience 3 about halves a refit.",
    )
    sequential_cache_mb: float = Field(
        default=64.0,
        ge=0.0,
        description="Memory for the transformer's per-user states between a user's events "
        "(0: none).",
    )
    factor_cache_users: int = Field(
        default=20_000,
        ge=0,
        description="Users whose factor-source candidates are kept between their requests "
        "until the next refit, when those of the users active or read lately are searched "
        "again in batches (about 0.6 KB each at 100 candidates; 0: none).",
    )
    list_cache_ttl_s: float = Field(
        default=0.0,
        ge=0.0,
        description="Seconds a user's ranked list is kept for the same request again "
        "(`engine/listcache.py`): the user's next event, a refit, a catalog or experiment "
        "change miss at once, everyone else's events move it only after this long. For "
        "reloads and repeated widgets; 0 ranks every request afresh.",
    )
    list_cache_users: int = Field(
        default=20_000,
        ge=0,
        description="Users whose latest list `list_cache_ttl_s` keeps at most (about 1 KB "
        "each at 10 items with reasons).",
    )
    crowd_mixture: bool = Field(
        default=True,
        description="At each refit, also fit a two-expert blend (a crowd's expert on the "
        "trending, popularity and click-through features, mixed with the user's own) and "
        "serve it where it ranks the held-out window better than the linear blend "
        "(cross-fitted, by more than one standard error).",
    )
    text_topics: bool = Field(
        default=True,
        description="At each refit and server start, cluster the text of the items without "
        "a category (k-means, the square root of their number of clusters) and let each "
        "such item's cluster stand for its category in the category signals; an item "
        "upserted later joins the nearest cluster. Needs an encoder.",
    )
    sequential_warm_start: bool = Field(
        default=False,
        description="Start a refit's final transformer from the one fitted for the validation "
        "window: about half the fit on ml-latest-small, but on a small shop it ranked new "
        "items by their text less well, so it is opt-in.",
    )
    sequential_gate: bool = Field(
        default=True,
        description="Keep the transformer only where it ranks the held-out events better: "
        "each refit ranks its validation window with and without it and leaves it out "
        "unless its NDCG@10 there is higher by more than one standard error of the paired "
        "difference (on short visits it can cost accuracy).",
    )
    n_recent: int = Field(
        default=10,
        ge=1,
        description="Latest items of a user that vote for co-visitation candidates.",
    )
    recency_decay: float = Field(
        default=0.85,
        gt=0.0,
        le=1.0,
        description="Each older recent item's co-visitation votes count this much less.",
    )
    trending_half_life_s: float = Field(
        default=3 * 86400.0,
        gt=0.0,
        description="Half-life of the live trending counts, in seconds.",
    )
    trending_fast_half_life_s: float = Field(
        default=3600.0,
        gt=0.0,
        description="Half-life of the fast trending counts (news, launches), in seconds.",
    )
    trending_now_half_life_s: float = Field(
        default=600.0,
        gt=0.0,
        description="Half-life of the counts of the last minutes (a news portal's front page), "
        "in seconds.",
    )
    popular_half_life_s: float = Field(
        default=365 * 86400.0,
        gt=0.0,
        description="Half-life of the slow counts (what has been taken most, this year or "
        "so), in seconds.",
    )
    live_covisit_half_life_s: float = Field(
        default=86400.0,
        gt=0.0,
        description="Half-life of the co-visitation counts learned per event between refits.",
    )
    live_covisit_window: int = Field(
        default=5,
        ge=0,
        description="A user's previous items each positive event is paired with, online "
        "(0: no online co-visitation). Weighed apart from the refit's co-visitation, it "
        "took HitRate@10 from .2216 to .2244 on ml-100k and from .6608 to .6649 on a day "
        "of news clicks.",
    )
    session_gap_s: float = Field(
        default=1800.0,
        gt=0.0,
        description="Session-kNN: a user's positive event this many seconds after their "
        "previous one starts a new session.",
    )
    max_sessions: int = Field(
        default=50_000,
        ge=1,
        description="Session-kNN: most recent sessions (of all users) held in memory, at "
        "most 50 items each (about 400 bytes a session); the oldest leaves first.",
    )
    max_pending: int = Field(
        default=100_000,
        ge=0,
        description="Most (item, user) pairs remembered for items not yet in the catalog, so "
        "the users' states take those events in when the item arrives; past it the least "
        "recently touched items are forgotten (their events count at the next state rebuild).",
    )
    artifacts_keep: int = Field(
        default=3,
        ge=1,
        description="Model versions kept in the artifacts folder after a refit or a user's "
        "deletion, the current one always among them; older ones are deleted.",
    )
    train_window_s: float = Field(
        default=0.0,
        ge=0.0,
        description="A refit fits on the events of this many seconds back from the log's "
        "newest event only (0: the whole log), and reads only those from storage: it bounds "
        "the read, the fit and its held-out replay. Users with no event in the window leave "
        "the factor model.",
    )
    valid_fraction: float = Field(
        default=0.1,
        gt=0.0,
        lt=1.0,
        description="Newest share of the log held out at a refit to fit the ranking weights.",
    )
    max_fit_lists: int = Field(
        default=4000, ge=1, description="Most held-out lists the ranking weights are fitted on."
    )
    exact_threshold: int = Field(
        default=20_000,
        ge=0,
        description="Vector indexes search exactly below this many items, inverted lists (IVF) "
        "from it on.",
    )
    random_state: int = Field(
        default=DEFAULT_SEED, description="Seed of a refit (factor init, held-out sample)."
    )
    state: StateSettings = Field(
        default_factory=StateSettings, description="The online user state's update rule."
    )

    @field_validator("sources", mode="before")
    @classmethod
    def _split_sources(cls, value: object) -> object:
        return split_commas(value)

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from pulserec.engine.sources import SOURCES

        unknown = [name for name in value if name not in SOURCES]
        if unknown:
            raise ValueError(f"unknown source(s) {unknown}; known: {sorted(SOURCES)}")
        return value

    @field_validator("sequential_params")
    @classmethod
    def _transformer_arguments(cls, value: dict[str, Any]) -> dict[str, Any]:
        import inspect

        from pulserec.models.sequential import SequentialTransformer

        known = set(inspect.signature(SequentialTransformer).parameters)
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown argument(s) {unknown}; known: {sorted(known)}")
        return value

    def to_engine_config(self) -> EngineConfig:
        """The :class:`~pulserec.engine.EngineConfig` these settings describe."""
        from pulserec.engine import EngineConfig

        fields = self.model_dump(exclude={"state"})
        return EngineConfig(**fields, state=self.state.to_state_config())
