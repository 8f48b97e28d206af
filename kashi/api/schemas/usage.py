"""Usage read back: buckets, conflicts, unrated and late usage."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from kashi.api.schemas.common import Answer, Page


class UsageBucket(Answer):
    bucket: str = Field(
        description="Start of the hour, day or month in the tenant's timezone.", examples=["2026-10-10T00:00:00+08:00"]
    )
    contract_id: str | None = Field(description="The contract the events named, if any.")
    gpu_model: str | None = Field(None, examples=["H100-SXM"])
    card_seconds: str | None = Field(None, description="Exact, gpu type.", examples=["43200"])
    card_hours: str | None = Field(None, examples=["12.000000"])
    model: str | None = Field(None, description="tokens type.", examples=["qwen2.5-72b"])
    kind: str | None = Field(None, description="tokens type: input, output or cached.", examples=["input"])
    tokens: str | int | None = Field(None, description="tokens type.")


class Usage(Page):
    tenant_id: str = Field(examples=["acme"])
    timezone: str
    type: str = Field(examples=["gpu"])
    group_by: str = Field(examples=["day"])
    start: str
    end: str
    items: list[UsageBucket]


class Conflict(Answer):
    id: int
    gpu: str
    start: str
    end: str
    card_seconds: int
    tenant_id: str = Field(description="The tenant whose event also claimed this time (not billed for it).")
    holder_tenant_id: str = Field(description="The tenant billed: its event was persisted first.")
    source: str
    event_id: str


class Conflicts(Page):
    items: list[Conflict]


class Unrated(Page):
    items: list[dict[str, Any]] = Field(
        description="Hourly rollups no contract item rates yet (kept, billed once a matching contract exists)."
    )


class LateUsageItem(Answer):
    tenant_id: str = Field(examples=["acme"])
    period: str = Field(description="The closed period the usage belongs to.", examples=["2026-11"])
    closed_at: str = Field(description="When that period was closed.")
    events: int = Field(examples=[3])
    card_seconds: int = Field(examples=[144000])
    card_hours: str = Field(examples=["40.0000"])
    tokens: int = Field(examples=[0])
    billed_on: str = Field(description="Where it will be billed.")


class LateUsage(Answer):
    items: list[LateUsageItem]
    next_cursor: None = None


class Health(Answer):
    status: str = Field(examples=["ok"])
    checks: dict[str, str] = Field(examples=[{"api": "ok", "postgresql": "ok", "redis": "ok", "workers": "1 ready"}])
    instance: str | None = Field(None, description="The instance id `kashi up` gave this API.")
