"""Hourly usage rows: what metering offers billing to rate (SPEC §2, §3) [pure].

One row is the usage of one tenant, named contract (or None) and model during an hour, or the part
of one hour between two rating boundaries. `metering.query` reads them; `billing.core.rating` rates them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

HOUR = timedelta(hours=1)


@lru_cache(maxsize=65_536)
def _epoch(seconds: int) -> datetime:
    """A UTC instant from epoch seconds (a close of many tenants meets the same hours again and again)."""
    return datetime.fromtimestamp(seconds, UTC)


def _instant(hour: datetime | int) -> datetime:
    return _epoch(hour) if isinstance(hour, int) else hour.astimezone(UTC)


@dataclass(frozen=True)
class GpuRollupRow:
    """Card-seconds of one tenant, named contract (or None) and GPU model during
    ``[hour_start, hour_end)``: an hour, or the part of one between two rating boundaries (SPEC §2)."""

    tenant_id: str
    contract_id: str | None
    gpu_model: str
    hour_start: datetime
    card_seconds: int
    hour_end: datetime | None = None
    """End of the stretch; None means the whole hour from ``hour_start``."""

    @classmethod
    def of(
        cls,
        tenant_id: str,
        contract_id: str | None,
        gpu_model: str,
        hour: datetime | int,
        seconds: int,
        end: datetime | int | None = None,
    ):
        """From a metering rollup key: contract "" means none, instants may be UTC epoch seconds."""
        return cls(
            tenant_id, contract_id or None, gpu_model, _instant(hour), seconds, None if end is None else _instant(end)
        )

    @property
    def until(self) -> datetime:
        return self.hour_end or self.hour_start + HOUR


@dataclass(frozen=True)
class TokenRollupRow:
    """Tokens of one kind ("input", "output", "cached") of one tenant, contract and model counted
    during ``[hour_start, hour_end)`` (an hour, or the part of one between rating boundaries)."""

    tenant_id: str
    contract_id: str | None
    model: str
    kind: str
    hour_start: datetime
    tokens: int
    hour_end: datetime | None = None

    @classmethod
    def of(
        cls,
        tenant_id: str,
        contract_id: str | None,
        model: str,
        kind: str,
        hour: datetime | int,
        tokens: int,
        end: datetime | int | None = None,
    ):
        return cls(
            tenant_id, contract_id or None, model, kind, _instant(hour), tokens, None if end is None else _instant(end)
        )

    @property
    def until(self) -> datetime:
        return self.hour_end or self.hour_start + HOUR
