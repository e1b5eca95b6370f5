"""Response bodies of the HTTP API (the request bodies are in :mod:`pulserec.service.schemas`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pulserec.service.fields import printable


class IngestError(BaseModel):
    """Why one event of a batch was rejected."""

    index: int = Field(description="Position of the event in the request (0 for a single one).")
    field: str | None
    message: str

    @field_validator("field", "message")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        return None if value is None else printable(value)


class IngestResult(BaseModel):
    """What happened to the events of one request."""

    accepted: int = Field(description="Events newly stored (durably) and applied.")
    duplicates: int = Field(description="Events whose event_id was already stored (retries).")
    errors: list[IngestError] = Field(description="Events rejected, with the reason.")


class ItemOut(BaseModel):
    """An item of the catalog."""

    item_id: str
    title: str
    text: str
    categories: list[str]
    attributes: dict[str, Any]
    created_at: float | None


class ItemPage(BaseModel):
    """One page of the catalog."""

    total: int = Field(description="Items matching the filter, over all pages.")
    offset: int
    limit: int
    items: list[ItemOut]


class UpsertResult(BaseModel):
    """How many items were written."""

    upserted: int


class ScoredItem(BaseModel):
    """A recommended item, why it was chosen, and its title."""

    item_id: str
    score: float
    reason: str
    title: str
    position: int = Field(description="Place in the list, 1 = the top.")


class RecommendationOut(BaseModel):
    """A ranked list for one user."""

    user_id: str
    model_version: str
    items: list[ScoredItem]
    recommendation_id: str = Field(
        description="Names this list: send it (and the item's position) with the events it "
        "leads to. Empty when list logging is off."
    )
    variant: str = Field(description="The experiment variant of the user; empty outside one.")


class SimilarOut(BaseModel):
    """Items like one item."""

    item_id: str
    items: list[ScoredItem]
    recommendation_id: str = Field(description="Names this list (see recommendations).")
    variant: str = Field(description="The experiment variant of the user; empty outside one.")


class SearchOut(BaseModel):
    """Items matching a query, personalised when a user is given."""

    query: str
    user_id: str | None
    items: list[ScoredItem]
    recommendation_id: str = Field(description="Names this list (see recommendations).")
    variant: str = Field(description="The experiment variant of the user; empty outside one.")


class KeywordOut(BaseModel):
    keyword: str
    weight: float


class CategoryWeightOut(BaseModel):
    category: str
    weight: float


class TopicShareOut(BaseModel):
    topic: int = Field(description="Index of the topic among the catalog's text clusters.")
    label: str = Field(description="The topic's keywords.")
    share: float = Field(description="Its share of the user's interest, 0..1.")


class TimelinePointOut(BaseModel):
    item_id: str
    timestamp: float
    topics: dict[str, float] = Field(description="Short-term topic mix right after this event.")


class ShortTermOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    keywords: list[KeywordOut]
    categories: list[CategoryWeightOut]
    topics: list[TopicShareOut]


class LongTermOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    keywords: list[KeywordOut]
    topics: list[TopicShareOut]


class InterestsOut(BaseModel):
    """What the engine believes a user is into, short and long term, in words."""

    model_config = ConfigDict(from_attributes=True)

    user_id: str
    n_events: int
    recent_items: list[str] = Field(description="Most recent first.")
    queries: list[str] = Field(description="The user's searches, oldest first.")
    short_term: ShortTermOut
    long_term: LongTermOut
    timeline: list[TimelinePointOut] = Field(
        description="The short-term topic mix after each of the last events, oldest first."
    )
    summary: str = Field(
        description="One sentence in the language of most of the user's text: what they are "
        "into lately and over time, from their top categories, topics and keyphrases."
    )
    language: str = Field(description="en or zh: the language of the summary.")


class DeletedUser(BaseModel):
    """The result of forgetting a user."""

    user_id: str
    deleted_events: int


class DeletedItem(BaseModel):
    """The result of deleting an item."""

    item_id: str
    deleted: bool


class TrainStarted(BaseModel):
    """A refit started in the background."""

    status: Literal["training"]
    model_version: str = Field(description="The version served until the refit finishes.")


class LastTraining(BaseModel):
    """The last refit the server ran or loaded."""

    model_version: str
    trained_at: float = Field(description="Seconds since the epoch when it was fitted.")
    seconds: float | None = Field(
        description="How long it took (null when loaded from artifacts or fitted while seeding)."
    )
    metrics: dict[str, float] = Field(
        description="Validation figures of the refit (`recall@10`, `ndcg@10` and the "
        "previous version's `previous_recall@10`, `previous_ndcg@10` on the same held-out "
        "choices; `validation_choices`), the catalog size it saw (`catalog_items`, "
        "`previous_catalog_items`), the blend fit's internals (`lists`, `nll_before`, "
        "`nll_after`, `top1`) and whether the two-expert blend serves (`mixture_kept`, "
        "`crowd_share`, its gain over the linear blend `mixture_gain` ± `mixture_se`; "
        "where it serves, `recall@10` and `ndcg@10` are its own and the linear blend's "
        "are `linear_recall@10`, `linear_ndcg@10`)."
    )
    previous_version: str | None = Field(
        None, description="The version that served before this one (null: the first)."
    )


class StatusOut(BaseModel):
    """Counts, the model served, and training."""

    events: int
    users: int
    items: int
    model_version: str
    training: bool
    last_training: LastTraining | None
    last_error: str | None = Field(description="Why the last background refit failed, if it did.")
    events_ingested: int = Field(description="Events accepted since the server started.")


class HealthOut(BaseModel):
    """Liveness."""

    status: Literal["ok"]
    model_version: str
