"""Webhook endpoints and their delivery log."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from kashi.api.schemas.common import Answer, Body, Page

EventType = Literal[
    "invoice.issued", "credit_note.issued", "payment.recorded", "period.closed", "batch.parked", "contract.at_risk"
]


class WebhookCreate(Body):
    """An endpoint to send events to."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"url": "https://erp.example.cn/kashi", "events": ["invoice.issued", "payment.recorded"]}]
        },
    )

    url: str = Field(description="Where events are POSTed (http or https).", examples=["https://erp.example.cn/kashi"])
    events: list[EventType] = Field(
        min_length=1, description="The event types to send.", examples=[["invoice.issued", "payment.recorded"]]
    )


class Webhook(Answer):
    id: str = Field(description="The endpoint's id.", examples=["wh_12e886282c9c49ebb846"])
    url: str = Field(description="Where events are POSTed.", examples=["https://erp.example.cn/kashi"])
    events: list[EventType] = Field(description="The event types it receives.", examples=[["invoice.issued"]])
    created_at: str = Field(description="When it was registered (UTC).", examples=["2026-12-02T00:26:11Z"])


class WebhookCreated(Webhook):
    secret: str = Field(
        description="The signing secret, shown only in this answer.", examples=["whsec_Thq5snG5Ogs0YJy-qw9dZAdJB"]
    )


class Webhooks(Page):
    items: list[Webhook] = Field(description="Endpoints by id (secrets are never shown again).")


class DeliveryAttempt(Answer):
    attempt: int = Field(description="1 for the first try.", examples=[1])
    at: str = Field(description="When it was tried (UTC).", examples=["2026-12-02T00:26:12Z"])
    status_code: int | None = Field(description="The receiver's HTTP status, if it answered.", examples=[200])
    error: str | None = Field(description="Why it failed without an answer (timeout, refused …).", examples=[None])
    duration_ms: int | None = Field(description="How long the try took.", examples=[42])


class Delivery(Answer):
    """One event's delivery to the endpoint."""

    seq: int = Field(description="The event's place in the outbox (cursor of the listing).", examples=[1042])
    event_id: str = Field(
        description="The event's id (header Kashi-Event-Id).", examples=["evt_1f0c2b3a4d5e6f708192a3b4"]
    )
    type: EventType = Field(description="The event's type.")
    status: Literal["pending", "delivered", "failed", "cancelled"] = Field(
        description="pending: to be tried (again); delivered: a 2xx was received; failed: retried for 25 hours "
        "without success; cancelled: the endpoint was deleted."
    )
    attempts: int = Field(description="Tries so far.", examples=[1])
    event_created_at: str = Field(description="When the event happened (UTC).", examples=["2026-12-02T00:26:11Z"])
    next_attempt_at: str | None = Field(description="When it is tried next, while pending (UTC).", examples=[None])
    last_status_code: int | None = Field(description="The last answer's HTTP status.", examples=[200])
    last_error: str | None = Field(description="The last try's error.", examples=[None])
    delivered_at: str | None = Field(description="When a 2xx was received (UTC).", examples=["2026-12-02T00:26:12Z"])
    log: list[DeliveryAttempt] = Field(description="Every try, oldest first.")


class Deliveries(Page):
    items: list[Delivery] = Field(description="Newest event first.")
