"""Service: close a billing period for a tenant and issue its invoices (SPEC §7).

A close is one transaction per tenant, under a per-tenant advisory lock:
1. the ingest watermark W is read under the exclusive INGEST_FENCE (in its own short transaction,
   so ingest pauses only for that instant): every usage event with seq ≤ W is persisted and
   belongs to this close; anything later is late by definition and becomes an adjustment;
2. the inputs are loaded: the tenant's contract streams folded, the usage of the period with
   seq ≤ W (card-seconds clipped exactly at the period's bounds from `gpu_coverage`, tokens by
   event time), and for each earlier closed period that received late usage (or whose contracts
   changed) its recomputed charges and what was already charged for it;
3. `billing.invoicing` assembles the drafts (pure);
4. the invoices are numbered (`billing.numbering`, gapless) and stored with the close record
   (`period_closes`: watermark, contract versions, adjusted periods — what replay needs to
   reproduce every invoice), and the balance projection is updated.
A second close of the same (tenant, period) finds the record and answers the same invoice ids; the
unique (tenant, period, currency) on invoices backs the lock. A crash rolls the whole tenant back.
"""

from __future__ import annotations

import hashlib
import uuid
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, text

from billing.core.contract_json import stored_event_json
from billing.core.contracts import ContractState, event_from_json, fold
from billing.core.invoicing import InvoiceDraft, adjustment_lines, assemble_invoices
from billing.core.lines import ChargeLine
from billing.core.periods import Period, instant_to_json, period_of
from billing.core.pricing import charges_for_period
from billing.core.rating import GpuRollupRow, TokenRollupRow, rate_period, rating_boundaries
from billing.services import parties
from billing.store import numbering, outbox
from kashi.errors import Conflict, NotFound
from metering.intervals import HOUR, split, split_at
from metering.store import INGEST_FENCE, MAX_INTERVAL_S

Clock = Callable[[], datetime]
EARLIEST_ZONE = "Etc/GMT-14"
"""UTC+14: where a month ends first."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def close_lock_key(tenant_id: str) -> int:
    """The advisory lock serialising every close of one tenant."""
    digest = hashlib.blake2b(f"close:{tenant_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# --- reading the watermark and the tenant ---------------------------------------------------------


def read_watermark(engine: Engine) -> int:
    """The highest usage seq whose transaction has committed, fenced against in-flight recorders."""
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": INGEST_FENCE})
        return conn.execute(text("SELECT coalesce(max(seq), 0) FROM usage_events")).scalar_one()


def tenant_zone(conn: Connection, tenant_id: str) -> str:
    tz = conn.execute(text("SELECT timezone FROM tenants WHERE id = :t"), {"t": tenant_id}).scalar()
    if tz is None:
        raise NotFound(f"tenant {tenant_id} not found", [{"field": "tenant_id", "reason": "not found"}])
    return tz


def closed_periods(conn: Connection, tenant_id: str) -> list[Period]:
    """The tenant's closed periods, oldest first: what `terms.ensure_period_open` checks (409)."""
    rows = conn.execute(text("SELECT period FROM period_closes WHERE tenant_id = :t ORDER BY period"),
                        {"t": tenant_id}).scalars()  # fmt: skip
    return [Period.parse(p) for p in rows]


# --- loading inputs ------------------------------------------------------------------------------


def contract_states(conn: Connection, tenant_id: str, versions: dict[str, int] | None = None) -> list[ContractState]:
    """The tenant's contracts folded from their streams; `versions` caps each (replay), None = all."""
    ids = conn.execute(
        text("""SELECT substr(stream_id, 10) FROM stream_events WHERE stream_id LIKE 'contract:%'
                AND version = 1 AND data->>'tenant_id' = :t ORDER BY stream_id"""),
        {"t": tenant_id},
    ).scalars().all()  # fmt: skip
    if versions is not None:
        ids = [i for i in ids if i in versions]
    if not ids:
        return []
    rows = conn.execute(
        text("""SELECT stream_id, version, type, data, actor, recorded_at FROM stream_events
                WHERE stream_id = ANY(:s) ORDER BY stream_id, version"""),
        {"s": [f"contract:{i}" for i in ids]},
    ).all()
    events: dict[str, list] = defaultdict(list)
    for row in rows:
        contract_id = row.stream_id.removeprefix("contract:")
        if versions is not None and row.version > versions[contract_id]:
            continue
        events[contract_id].append(event_from_json(stored_event_json(row)))
    return [fold(events[i]) for i in ids]


def _cuts(period: Period, tz: str, boundaries: Iterable[datetime]) -> list[int]:
    """The period's bounds and the rating boundaries inside it, as sorted UTC epoch seconds."""
    start, end = int(period.start(tz).timestamp()), int(period.end(tz).timestamp())
    inside = {int(b.timestamp()) for b in boundaries if start < b.timestamp() < end}
    return sorted({start, end} | inside)


def _segment(instant: int, cuts: list[int]) -> tuple[int, int]:
    """The stretch ``[from, to)`` holding ``instant`` that crosses neither an hour nor a cut."""
    hour = instant - instant % HOUR
    at = bisect_right(cuts, instant)
    return max(hour, cuts[at - 1]), min(hour + HOUR, cuts[at])


def gpu_rows(conn: Connection, tenant_id: str, period: Period, tz: str, watermark: int,
             boundaries: Iterable[datetime] = ()) -> list[GpuRollupRow]:  # fmt: skip
    """Card-seconds newly counted by events with seq ≤ watermark, clipped exactly to `period`, per
    (contract named, GPU model, stretch): stretches are hours, cut at the period's bounds and at the
    `boundaries` where rating can change (`rating.rating_boundaries`), so each is rated whole."""
    cuts = _cuts(period, tz, boundaries)
    start, end = cuts[0], cuts[-1]
    pieces = conn.execute(
        text("""SELECT contract_id, gpu_model, start_s, end_s FROM gpu_coverage
                WHERE tenant_id = :t AND start_s < :e AND start_s > :s - :m AND end_s > :s AND seq <= :w"""),
        {"t": tenant_id, "s": start, "e": end, "m": MAX_INTERVAL_S + 1, "w": watermark},
    ).all()
    totals: dict[tuple[str | None, str, int, int], int] = defaultdict(int)
    for contract_id, model, piece_start, piece_end in pieces:
        for low, high in split_at((max(piece_start, start), min(piece_end, end)), cuts):
            for hour, seconds in split((low, high), HOUR):
                totals[(contract_id, model, *_segment(max(hour, low), cuts))] += seconds
    return [GpuRollupRow.of(tenant_id, c, m, a, n, end=b) for (c, m, a, b), n in sorted(totals.items(), key=_key)]


def token_rows(conn: Connection, tenant_id: str, period: Period, tz: str, watermark: int,
               boundaries: Iterable[datetime] = ()) -> list[TokenRollupRow]:  # fmt: skip
    """Tokens of events with event time in `period` and seq ≤ watermark, per contract, model, kind and
    stretch (an hour, cut at the rating `boundaries` like :func:`gpu_rows`)."""
    cuts = _cuts(period, tz, boundaries)
    rows = conn.execute(
        text("""SELECT contract_id, data->>'model' AS model, min(at) AS at,
                       sum((data->>'input_tokens')::bigint) AS input,
                       sum((data->>'output_tokens')::bigint) AS output,
                       sum((data->>'cached_tokens')::bigint) AS cached
                FROM (SELECT *, floor(extract(epoch FROM event_time))::bigint AS at FROM usage_events
                      WHERE tenant_id = :t AND type = 'llm.tokens'
                        AND event_time >= :s AND event_time < :e AND seq <= :w) AS tokens
                GROUP BY contract_id, data->>'model', at / 3600, width_bucket(at, CAST(:cuts AS bigint[]))"""),
        {"t": tenant_id, "s": period.start(tz), "e": period.end(tz), "w": watermark, "cuts": cuts},
    ).all()
    totals: dict[tuple[str | None, str, str, int, int], int] = defaultdict(int)
    for row in rows:
        segment = _segment(row.at, cuts)
        for kind in ("input", "output", "cached"):
            count = getattr(row, kind) or 0
            if count:
                totals[(row.contract_id, row.model, kind, *segment)] += int(count)
    return [TokenRollupRow.of(tenant_id, c, m, k, a, n, end=b)
            for (c, m, k, a, b), n in sorted(totals.items(), key=lambda t: (t[0][0] or "", *t[0][1:]))]


def _key(item):
    (contract_id, model, start, end), _ = item
    return (contract_id or "", model, start, end)


def charged_lines(conn: Connection, tenant_id: str, period: Period, before_seq: int | None) -> list[ChargeLine]:
    """Every line already invoiced for `period` (its invoice and later adjustments), issued by closes
    before `before_seq` (None: all)."""
    rows = conn.execute(
        text("""SELECT l.*, i.currency FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id
                WHERE i.tenant_id = :t AND l.charged_period = :p AND i.close_seq < :b
                ORDER BY i.close_seq, l.position"""),
        {"t": tenant_id, "p": str(period), "b": before_seq if before_seq is not None else 2**62},
    ).all()
    return [line_from_row(row) for row in rows]


def line_from_row(row: Any) -> ChargeLine:
    return ChargeLine(
        kind=row.kind, contract_id=row.contract_id, item_id=row.item_id, description=row.description,
        quantity=row.quantity, unit=row.unit, unit_price=row.unit_price, amount=row.amount,
        tax_rate=row.tax_rate, tax=row.tax, period_start=row.period_start.astimezone(UTC),
        period_end=row.period_end.astimezone(UTC), currency=row.currency,
    )  # fmt: skip


def late_periods(conn: Connection, tenant_id: str, period: Period, tz: str, watermark: int,
                 versions: dict[str, int]) -> list[Period]:  # fmt: skip
    """Closed periods before `period` that received usage after their close (seq in (W_Q, W]),
    or whose contracts changed since (a contract signed later, backdated): the ones to adjust."""
    closes = conn.execute(
        text(
            "SELECT period, watermark, inputs FROM period_closes WHERE tenant_id = :t AND period < :p ORDER BY period"
        ),
        {"t": tenant_id, "p": str(period)},
    ).all()
    found = []
    for row in closes:
        closed = Period.parse(row.period)
        if row.inputs.get("contract_versions") != versions or _has_late_usage(conn, tenant_id, closed, tz,
                                                                                row.watermark, watermark):  # fmt: skip
            found.append(closed)
    return found


def _has_late_usage(conn: Connection, tenant_id: str, period: Period, tz: str, after: int, upto: int) -> bool:
    if upto <= after:
        return False
    start, end = period.start(tz), period.end(tz)
    s, e = int(start.timestamp()), int(end.timestamp())
    return bool(conn.execute(
        text("""SELECT EXISTS (SELECT 1 FROM gpu_coverage WHERE tenant_id = :t AND seq > :a AND seq <= :u
                                AND start_s < :e AND end_s > :s)
                OR EXISTS (SELECT 1 FROM usage_events WHERE tenant_id = :t AND type = 'llm.tokens'
                           AND seq > :a AND seq <= :u AND event_time >= :ts AND event_time < :te)"""),
        {"t": tenant_id, "a": after, "u": upto, "s": s, "e": e, "ts": start, "te": end},
    ).scalar())  # fmt: skip


# --- assembling --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assembled:
    """The drafts of one close and the inputs that reproduce them."""

    drafts: list[InvoiceDraft]
    inputs: dict[str, Any]


def assemble(
    conn: Connection,
    tenant_id: str,
    period: Period,
    tz: str,
    watermark: int,
    *,
    contract_versions: dict[str, int] | None = None,
    adjusted: Iterable[str] | None = None,
    before_seq: int | None = None,
) -> Assembled:
    """Load the inputs of closing `period` and assemble its drafts (pure `billing.invoicing`).

    Live closes pass only the watermark; replay passes the stored `contract_versions`, `adjusted`
    periods and the close's `before_seq`, and so rebuilds exactly what the close saw.
    """
    states = contract_states(conn, tenant_id, contract_versions)
    versions = {state.id: state.version for state in states}
    cuts = rating_boundaries(states, tz)
    rated = rate_period(states, period, tz, gpu_rows(conn, tenant_id, period, tz, watermark, cuts),
                        token_rows(conn, tenant_id, period, tz, watermark, cuts))  # fmt: skip
    if adjusted is None:
        late = late_periods(conn, tenant_id, period, tz, watermark, versions)
    else:
        late = [Period.parse(p) for p in adjusted]
    adjustments: list[ChargeLine] = []
    for closed in late:
        usage = rate_period(states, closed, tz, gpu_rows(conn, tenant_id, closed, tz, watermark, cuts),
                            token_rows(conn, tenant_id, closed, tz, watermark, cuts)).usage  # fmt: skip
        recomputed = [line for state in states for line in charges_for_period(state, closed, tz, usage)]
        charged = charged_lines(conn, tenant_id, closed, before_seq)
        adjustments.extend(adjustment_lines(closed, charged, recomputed, tz))
    drafts = assemble_invoices(tenant_id, period, tz, states, rated.usage, None, adjustments)
    unrated = sum(row.card_seconds for row in rated.unrated_gpu)
    inputs = {
        "contract_versions": versions,
        "adjusted": [str(p) for p in late],
        "timezone": tz,
        "unrated_card_seconds": unrated,
        "unrated_tokens": sum(row.tokens for row in rated.unrated_tokens),
    }
    return Assembled(drafts, inputs)


# --- the service ---------------------------------------------------------------------------------


def close_tenant(engine: Engine, tenant_id: str, period: Period, *, now: datetime | None = None) -> list[str]:
    """Close `period` for `tenant_id` and return its invoice ids (the same ids when repeated).

    Raises Conflict when the period has not ended in the tenant's timezone, NotFound for an unknown tenant.
    """
    now = now or utc_now()
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": close_lock_key(tenant_id)})
        done = _closed_invoice_ids(conn, tenant_id, period)
        if done is not None:
            return done
        tz = tenant_zone(conn, tenant_id)
        if now < period.end(tz):
            raise Conflict(
                f"period {period} has not ended for tenant {tenant_id} ({tz})",
                [{"field": "period", "reason": f"ends at {instant_to_json(period.end(tz))}"}],
            )
        watermark = read_watermark(engine)
        assembled = assemble(conn, tenant_id, period, tz, watermark)
        close_seq = conn.execute(
            text("SELECT nextval(pg_get_serial_sequence('period_closes', 'close_seq'))")
        ).scalar_one()
        ids = [_issue(conn, draft, tz, close_seq, now) for draft in assembled.drafts]
        conn.execute(
            text("""INSERT INTO period_closes (tenant_id, period, close_seq, closed_at, watermark, inputs, invoice_ids)
                    VALUES (:t, :p, :s, :at, :w, CAST(:i AS jsonb), CAST(:ids AS jsonb))"""),
            {"t": tenant_id, "p": str(period), "s": close_seq, "at": now, "w": watermark,
             "i": _json(assembled.inputs), "ids": _json(ids)},
        )  # fmt: skip
        outbox.emit(conn, "period.closed", {"tenant_id": tenant_id, "period": str(period),
                                            "closed_at": instant_to_json(now), "invoice_ids": ids})  # fmt: skip
        return ids


def close_period(engine: Engine, period: Period, tenant_id: str | None = None, *,
                 now: datetime | None = None) -> list[str]:  # fmt: skip
    """Close `period` for one tenant, or for every tenant whose `period` has ended; invoice ids.

    Raises Conflict (naming `period`) when the period has ended for no tenant yet — with no tenant at
    all, when it has not ended anywhere (UTC+14, the first zone to leave a month): an unended period
    is refused whether or not a tenant is named.
    """
    now = now or utc_now()
    if tenant_id is not None:
        return close_tenant(engine, tenant_id, period, now=now)
    with engine.connect() as conn:
        tenants = conn.execute(text("SELECT id, timezone FROM tenants ORDER BY id")).all()
    first_end = min(period.end(tz) for tz in {tz for _, tz in tenants} or {EARLIEST_ZONE})
    if now < first_end:
        raise Conflict(
            f"period {period} has not ended for any tenant",
            [{"field": "period", "reason": f"ends at {instant_to_json(first_end)} at the earliest"}],
        )
    ids: list[str] = []
    for tenant, tz in tenants:
        if now >= period.end(tz):
            ids.extend(close_tenant(engine, tenant, period, now=now))
    return ids


def _closed_invoice_ids(conn: Connection, tenant_id: str, period: Period) -> list[str] | None:
    row = conn.execute(text("SELECT invoice_ids FROM period_closes WHERE tenant_id = :t AND period = :p"),
                       {"t": tenant_id, "p": str(period)}).first()  # fmt: skip
    return None if row is None else list(row.invoice_ids)


def _issue(conn: Connection, draft: InvoiceDraft, tz: str, close_seq: int, issued_at: datetime) -> str:
    """Number and store one draft with its lines; add it to the tenant's balance."""
    invoice_id = f"inv_{uuid.uuid4().hex[:20]}"
    number = numbering.allocate(conn, numbering.INVOICE_SERIES, draft.currency, issued_at)
    conn.execute(
        text("""INSERT INTO invoices (id, number, tenant_id, period, currency, issued_at, subtotal, tax, total,
                                      close_seq)
                VALUES (:id, :n, :t, :p, :c, :at, :sub, :tax, :total, :s)"""),
        {"id": invoice_id, "n": number, "t": draft.tenant_id, "p": str(draft.period), "c": draft.currency,
         "at": issued_at, "sub": draft.subtotal, "tax": draft.tax, "total": draft.total, "s": close_seq},
    )  # fmt: skip
    if draft.lines:
        conn.execute(
            text("""INSERT INTO invoice_lines (invoice_id, position, kind, contract_id, item_id, description,
                        quantity, unit, unit_price, amount, tax_rate, tax, period_start, period_end, charged_period)
                    VALUES (:invoice_id, :position, :kind, :contract_id, :item_id, :description, :quantity, :unit,
                            :unit_price, :amount, :tax_rate, :tax, :period_start, :period_end, :charged_period)"""),
            [line_row(invoice_id, position, line, draft.period, tz) for position, line in enumerate(draft.lines, 1)],
        )
    add_to_balance(conn, draft.tenant_id, draft.currency, invoiced=draft.total)
    parties.record(conn, invoice_id, draft.tenant_id, tz, issued_at)
    from billing.services.invoices import invoice_json

    outbox.emit(conn, "invoice.issued", invoice_json(conn, invoice_id))
    return invoice_id


def line_row(invoice_id: str, position: int, line: ChargeLine, period: Period, tz: str) -> dict[str, Any]:
    charged = period_of(line.period_start, tz) if line.kind == "adjustment" else period
    return {
        "invoice_id": invoice_id, "position": position, "kind": line.kind, "contract_id": line.contract_id,
        "item_id": line.item_id, "description": line.description, "quantity": line.quantity, "unit": line.unit,
        "unit_price": line.unit_price, "amount": line.amount, "tax_rate": line.tax_rate, "tax": line.tax,
        "period_start": line.period_start, "period_end": line.period_end, "charged_period": str(charged),
    }  # fmt: skip


def add_to_balance(conn: Connection, tenant_id: str, currency: str, *, invoiced: Decimal = Decimal(0),
                   credited: Decimal = Decimal(0), paid: Decimal = Decimal(0)) -> None:  # fmt: skip
    """Add to the balance projection (balance = invoiced − credited − paid, SPEC §8)."""
    conn.execute(
        text("""INSERT INTO balances (tenant_id, currency, invoiced, credited, paid) VALUES (:t, :c, :i, :cr, :p)
                ON CONFLICT (tenant_id, currency) DO UPDATE SET invoiced = balances.invoiced + EXCLUDED.invoiced,
                  credited = balances.credited + EXCLUDED.credited, paid = balances.paid + EXCLUDED.paid"""),
        {"t": tenant_id, "c": currency, "i": invoiced, "cr": credited, "p": paid},
    )


def period_due(now: datetime, tz: str, grace: timedelta) -> Period | None:
    """The period the scheduler should close at `now` in `tz`: the most recent ended one, once its end
    plus `grace` has passed; None before that. Older periods are never due (SPEC §7)."""
    latest = period_of(now, tz).prev()
    return latest if now >= latest.end(tz) + grace else None


def _json(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True)
