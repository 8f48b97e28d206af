"""Service: the month so far, as the console's overview shows it — what was issued, credited and
received since the month began, what is still owed, card-hours sold, and late usage.

Reads projections only (invoices, credit notes, payments, balances, rollups); decides nothing."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, text

from billing.core.money import to_json
from billing.core.periods import Period, instant_to_json, period_of
from metering.usage import card_hours


def _per_currency(rows) -> list[dict[str, Any]]:
    return [{"currency": r.currency, "amount": to_json(r.amount or Decimal("0.00")), "count": r.n} for r in rows]


def month_so_far(conn: Connection, now: datetime, tz: str) -> dict[str, Any]:
    """Figures of the calendar month of ``now`` in ``tz``, from its start up to ``now``:

    ``issued`` invoices, ``credited`` credit notes and ``received`` payments, each per currency
    (``amount``, ``count``); ``outstanding``: per currency, what tenants owe (invoiced − credited −
    paid, positive balances only); ``card_hours`` allocated in the month, and ``tokens``."""
    month = period_of(now, tz)
    window = {"s": month.start(tz), "e": now}
    issued = conn.execute(text("""SELECT currency, sum(total) AS amount, count(*) AS n FROM invoices
        WHERE issued_at >= :s AND issued_at < :e GROUP BY currency ORDER BY currency"""), window)
    credited = conn.execute(text("""SELECT currency, sum(amount) AS amount, count(*) AS n FROM credit_notes
        WHERE issued_at >= :s AND issued_at < :e GROUP BY currency ORDER BY currency"""), window)
    received = conn.execute(text("""SELECT currency, sum(amount) AS amount, count(*) AS n FROM payments
        WHERE received_at >= :s AND received_at < :e GROUP BY currency ORDER BY currency"""), window)
    outstanding = conn.execute(text("""SELECT currency, sum(invoiced - credited - paid) AS amount, count(*) AS n
        FROM balances WHERE invoiced - credited - paid > 0 GROUP BY currency ORDER BY currency"""))
    usage = conn.execute(text("""
        SELECT (SELECT coalesce(sum(card_seconds), 0) FROM gpu_hourly
                WHERE hour >= extract(epoch FROM CAST(:s AS timestamptz))
                  AND hour < extract(epoch FROM CAST(:e AS timestamptz)))::bigint AS card_seconds,
               (SELECT coalesce(sum(tokens), 0) FROM token_hourly
                WHERE hour >= extract(epoch FROM CAST(:s AS timestamptz))
                  AND hour < extract(epoch FROM CAST(:e AS timestamptz)))::bigint AS tokens"""), window).one()
    return {
        "period": str(month), "from": instant_to_json(month.start(tz)), "until": instant_to_json(now),
        "issued": _per_currency(issued), "credited": _per_currency(credited), "received": _per_currency(received),
        "outstanding": _per_currency(outstanding),
        "card_seconds": usage.card_seconds, "card_hours": card_hours(usage.card_seconds), "tokens": usage.tokens,
    }  # fmt: skip


def card_hours_by_day(conn: Connection, period: Period, tz: str, *, tenant_id: str | None = None) -> list[dict]:
    """Card-hours allocated per local day of ``period`` (every tenant, or one), each day present
    (zero when nothing ran): ``[{"day": "2026-10-01", "card_seconds": 7200, "card_hours": "2.000000"}]``."""
    return card_hours_per_day(conn, period.start(tz), period.end(tz), tz, tenant_id=tenant_id)


def last_days(now: datetime, tz: str, days: int) -> tuple[datetime, datetime]:
    """``[start, end)`` of the ``days`` local days up to and including the day of ``now``."""
    local = now.astimezone(ZoneInfo(tz))
    end = datetime.combine(local.date() + timedelta(days=1), time(), ZoneInfo(tz))
    return datetime.combine(local.date() - timedelta(days=days - 1), time(), ZoneInfo(tz)), end


def card_hours_per_day(conn: Connection, start: datetime, end: datetime, tz: str, *,
                       tenant_id: str | None = None) -> list[dict]:  # fmt: skip
    """Card-hours allocated per local day from ``start`` to ``end`` (local midnights), as ``card_hours_by_day``."""
    rows = conn.execute(text("""
        SELECT d::date AS day, coalesce(sum(h.card_seconds), 0)::bigint AS card_seconds
        FROM generate_series(CAST(:s AS timestamptz) AT TIME ZONE :tz,
                             CAST(:e AS timestamptz) AT TIME ZONE :tz - interval '1 day', interval '1 day') AS d
        LEFT JOIN gpu_hourly h
          ON date_trunc('day', to_timestamp(h.hour) AT TIME ZONE :tz) = d
         AND (CAST(:t AS text) IS NULL OR h.tenant_id = :t)
        GROUP BY d ORDER BY d"""), {"s": start, "e": end, "tz": tz, "t": tenant_id})
    return [{"day": r.day.isoformat(), "card_seconds": r.card_seconds, "card_hours": card_hours(r.card_seconds)}
            for r in rows]  # fmt: skip


def late_usage(conn: Connection, *, tenant_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Usage that arrived after its period was closed, as billed: the ``adjustment`` lines of issued
    invoices, newest first (each names the invoice that carries it and the period it belongs to)."""
    rows = conn.execute(text("""
        SELECT i.id AS invoice_id, i.number, i.tenant_id, i.period AS invoiced_in, i.currency, i.issued_at,
               l.charged_period, l.contract_id, l.item_id, l.description, l.amount
        FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id
        WHERE l.kind = 'adjustment' AND (CAST(:t AS text) IS NULL OR i.tenant_id = :t)
        ORDER BY i.issued_at DESC, i.number DESC, l.position LIMIT :l"""), {"t": tenant_id, "l": limit})
    return [{**dict(r._mapping), "amount": to_json(r.amount), "issued_at": instant_to_json(r.issued_at)}
            for r in rows]  # fmt: skip
