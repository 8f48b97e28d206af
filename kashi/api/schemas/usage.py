"""Usage read back: buckets, conflicts, unrated and late usage; health."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kashi.api.schemas.common import Answer, Page, Single


class UsageBucket(Answer):
    """One bucket of usage: card time per contract and GPU model, or tokens per model and kind."""

    bucket: str = Field(
        description="Start of the hour, day or month in the tenant's timezone.", examples=["2026-10-10T00:00:00+08:00"]
    )
    contract_id: str | None = Field(description="The contract the events named, if any.", examples=[None])
    gpu_model: str | None = Field(None, description="type=gpu: the GPU model.", examples=["H100-SXM"])
    card_seconds: str | None = Field(None, description="type=gpu: exact card-seconds.", examples=["43200"])
    card_hours: str | None = Field(None, description="type=gpu: card-hours to 6 places.", examples=["12.000000"])
    model: str | None = Field(None, description="type=tokens: the served model.", examples=["qwen2.5-72b"])
    kind: str | None = Field(None, description="type=tokens: input, output or cached.", examples=["input"])
    tokens: int | None = Field(None, description="type=tokens: how many.", examples=[1200000])


class Usage(Single):
    """Usage of one tenant per hour, day or month."""

    tenant_id: str = Field(description="The tenant.", examples=["acme"])
    timezone: str = Field(description="The tenant's timezone, in which buckets are cut.", examples=["Asia/Shanghai"])
    type: Literal["gpu", "tokens"] = Field(description="What was asked for.")
    group_by: Literal["hour", "day", "month"] = Field(description="Bucket size.")
    start: str = Field(description="Hours starting at or after this instant.", examples=["2026-10-01T00:00:00+08:00"])
    end: str = Field(description="Hours starting before this instant.", examples=["2026-11-01T00:00:00+08:00"])
    items: list[UsageBucket] = Field(description="Buckets in time order.")


class Conflict(Answer):
    """GPU time two tenants' events claimed: billed once, to the tenant whose event was persisted first."""

    id: int = Field(description="The conflict's id (cursor of the listing).", examples=[17])
    gpu: str = Field(description="The GPU.", examples=["GPU-5f3c01"])
    start: str = Field(description="Start of the doubly claimed time (UTC).", examples=["2026-10-10T00:00:00Z"])
    end: str = Field(description="Its end (UTC).", examples=["2026-10-10T01:00:00Z"])
    card_seconds: int = Field(description="Its length.", examples=[3600])
    tenant_id: str = Field(
        description="The tenant whose event also claimed this time (not billed for it).", examples=["beta"]
    )
    holder_tenant_id: str = Field(description="The tenant billed: its event was persisted first.", examples=["acme"])
    source: str = Field(description="Source of the later event.", examples=["node/n7"])
    event_id: str = Field(description="Id of the later event.", examples=["n7-g3-1759251600"])


class Conflicts(Page):
    items: list[Conflict] = Field(description="Conflicts by id.")
    next_cursor: int | None = Field(None, description="Pass as `cursor` for the next page; null on the last page.")


class UnratedUsage(Answer):
    """An hour of usage no contract item rates yet: kept, and billed once a matching contract exists."""

    tenant_id: str = Field(description="The tenant.", examples=["acme"])
    period: str = Field(description="The month (YYYY-MM, tenant's timezone).", examples=["2026-10"])
    type: Literal["gpu", "tokens"] = Field(description="GPU time or tokens.")
    contract_id: str | None = Field(description="The contract the events named, if any.", examples=[None])
    gpu_model: str | None = Field(None, description="type=gpu: the GPU model.", examples=["L40S"])
    model: str | None = Field(None, description="type=tokens: the served model.", examples=["qwen2.5-72b"])
    kind: str | None = Field(None, description="type=tokens: input, output or cached.", examples=["input"])
    hour: str = Field(description="Start of the hour (UTC).", examples=["2026-10-10T00:00:00Z"])
    until: str = Field(description="End of the stretch within the hour (UTC).", examples=["2026-10-10T01:00:00Z"])
    card_seconds: str | None = Field(None, description="type=gpu: exact card-seconds.", examples=["3600"])
    card_hours: str | None = Field(None, description="type=gpu: card-hours to 6 places.", examples=["1.000000"])
    tokens: int | None = Field(None, description="type=tokens: how many.", examples=[1200000])


class Unrated(Single):
    items: list[UnratedUsage] = Field(description="Unrated hours, by tenant and hour.")


class LateUsageItem(Answer):
    """Usage of a closed period that arrived after its close and no later close has billed yet."""

    tenant_id: str = Field(description="The tenant.", examples=["acme"])
    period: str = Field(description="The closed period the usage belongs to.", examples=["2026-11"])
    closed_at: str = Field(description="When that period was closed (UTC).", examples=["2026-12-02T00:00:00Z"])
    events: int = Field(description="Events that brought it.", examples=[3])
    card_seconds: int = Field(description="Card-seconds inside the period.", examples=[144000])
    card_hours: str = Field(description="The same in card-hours, 4 places.", examples=["40.0000"])
    tokens: int = Field(description="Tokens with an event time in the period.", examples=[0])
    billed_on: str = Field(
        description="Where it will be billed.",
        examples=["the tenant's next close of a later period, as adjustment lines"],
    )


class LateUsage(Single):
    items: list[LateUsageItem] = Field(description="By tenant and period.")


class Health(Answer):
    """Readiness of the API and what it needs."""

    status: str = Field(description="ok, or unavailable (with a 503).", examples=["ok"])
    checks: dict[str, str] = Field(
        description="Each dependency (api, postgresql, redis, workers) and its state.",
        examples=[{"api": "ok", "postgresql": "ok", "redis": "ok", "workers": "1 ready"}],
    )
    instance: str | None = Field(None, description="The instance id `kashi up` gave this API.", examples=[None])
