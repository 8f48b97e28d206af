"""Service: the month so far, as the console's overview shows it — what was issued, credited and
received since the month began, what is still owed, card-hours sold, and late usage.

Reads projections only (invoices, credit notes, payments, balances, rollups); decides nothing."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from billing.core.money import to_json
from billing.core.periods import Period, instant_to_json, period_of
from billing.store import figures
from metering import usage
from metering.usage import card_hours


def _per_currency(rows) -> list[dict[str, Any]]:
    return [{"currency": r.currency, "amount": to_json(r.amount or Decimal("0.00")), "count": r.n} for r in rows]


def month_so_far(conn: Connection, now: datetime, tz: str) -> dict[str, Any]:
    """Figures of the calendar month of ``now`` in ``tz``, from its start up to ``now``:

    ``issued`` invoices, ``credited`` credit notes and ``received`` payments, each per currency
    (``amount``, ``count``); ``outstanding``: per currency, what tenants owe (invoiced − credited −
    paid, positive balances only); ``card_hours`` allocated in the month, and ``tokens``."""
    month = period_of(now, tz)
    start = month.start(tz)
    card_seconds, tokens = usage.totals(conn, start, now)
    return {
        "period": str(month),
        "from": instant_to_json(start),
        "until": instant_to_json(now),
        **{
            kind: _per_currency(figures.per_currency(conn, kind, start, now))
            for kind in ("issued", "credited", "received")
        },
        "outstanding": _per_currency(figures.outstanding(conn)),
        "card_seconds": card_seconds,
        "card_hours": card_hours(card_seconds),
        "tokens": tokens,
    }


def last_days(now: datetime, tz: str, days: int) -> tuple[datetime, datetime]:
    """``[start, end)`` of the ``days`` local days up to and including the day of ``now``."""
    local = now.astimezone(ZoneInfo(tz))
    end = datetime.combine(local.date() + timedelta(days=1), time(), ZoneInfo(tz))
    return datetime.combine(local.date() - timedelta(days=days - 1), time(), ZoneInfo(tz)), end


def card_hours_per_day(
    conn: Connection, start: datetime, end: datetime, tz: str, *, tenant_id: str | None = None
) -> list[dict]:
    """Card-hours allocated per local day from ``start`` to ``end`` (local midnights; every tenant,
    or one), each day present (zero when nothing ran):
    ``[{"day": "2026-10-01", "card_seconds": 7200, "card_hours": "2.000000"}]``."""
    return [
        {"day": day.isoformat(), "card_seconds": seconds, "card_hours": card_hours(seconds)}
        for day, seconds in usage.card_seconds_per_day(conn, start, end, tz, tenant_id)
    ]


def card_hours_by_day(conn: Connection, period: Period, tz: str, *, tenant_id: str | None = None) -> list[dict]:
    """``card_hours_per_day`` over the local days of ``period``."""
    return card_hours_per_day(conn, period.start(tz), period.end(tz), tz, tenant_id=tenant_id)


def late_usage(conn: Connection, *, tenant_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Usage that arrived after its period was closed, as billed: the ``adjustment`` lines of issued
    invoices, newest first (each names the invoice that carries it and the period it belongs to)."""
    return [
        {**dict(r._mapping), "amount": to_json(r.amount), "issued_at": instant_to_json(r.issued_at)}
        for r in figures.adjustment_lines(conn, tenant_id, limit)
    ]
