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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, text

from billing.core.invoicing import InvoiceDraft, adjustment_lines, assemble_invoices
from billing.core.lines import ChargeLine
from billing.core.periods import Period, instant_to_json
from billing.core.pricing import charges_for_period
from billing.core.rating import rate_period, rating_boundaries
from billing.core.sla import sla_credit_lines, sla_items
from billing.services import parties
from billing.services.barrier import wait_for_acknowledged
from billing.services.invoices import invoice_json
from billing.store import balances, closes, contract_streams, invoices, numbering, outbox, tenants
from kashi.errors import Conflict
from metering import fleet_query, query
from metering.hourly import GpuRollupRow
from metering.receipts import Receipts

Clock = Callable[[], datetime]
EARLIEST_ZONE = "Etc/GMT-14"
"""UTC+14: where a month ends first."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def close_lock_key(tenant_id: str) -> int:
    """The advisory lock serialising every close of one tenant."""
    digest = hashlib.blake2b(f"close:{tenant_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# --- loading inputs ------------------------------------------------------------------------------


def late_periods(
    conn: Connection,
    tenant_id: str,
    period: Period,
    tz: str,
    watermark: int,
    versions: dict[str, int],
    with_sla: bool = False,
) -> list[Period]:
    """Closed periods before `period` that received usage after their close (seq in (W_Q, W]),
    or whose contracts changed since (a contract signed later, backdated), or — for a tenant with SLA
    items — whose lit allocated seconds a later `gpu.status` or `gpu.usage` changed: the ones to adjust."""
    found = []
    for row in closes.closes_before(conn, tenant_id, period):
        closed = Period.parse(row.period)
        changed = row.inputs.get("contract_versions") != versions
        late_usage = query.has_late_usage(conn, tenant_id, closed, tz, row.watermark, watermark)
        late_status = with_sla and fleet_query.has_late_status(
            conn, tenant_id, closed.start(tz), closed.end(tz), row.watermark
        )
        if changed or late_usage or late_status:
            found.append(closed)
    return found


def lit_under_items(
    conn: Connection, tenant_id: str, states: list, period: Period, tz: str
) -> dict[tuple[str, str], int]:
    """Lit allocated card-seconds of `period` per capacity item: the tenant's lit allocated hours rated
    like its usage (`billing.core.rating`), so they land on the item their usage belongs to."""
    found = fleet_query.lit_rows(conn, tenant_id, period.start(tz), period.end(tz))
    rows = [GpuRollupRow.of(tenant_id, contract, model, hour, seconds) for contract, model, hour, seconds in found]
    return rate_period(states, period, tz, rows).capacity_card_seconds


def _sla_lines(conn, tenant_id, states, period, tz, usage, stored, measured) -> tuple[list, list[ChargeLine]]:
    """The period's own charges and its `sla_credit` lines; `stored` (replay) gives the lit seconds the
    close measured, else they are measured now and kept in `measured` for the close's inputs."""
    charges = [line for state in states for line in charges_for_period(state, period, tz, usage)]
    if not sla_items(states):
        return charges, []
    key = str(period)
    if stored is not None:
        lit = {(c, i): n for c, i, n in stored.get(key, [])}
    else:
        lit = lit_under_items(conn, tenant_id, states, period, tz)
    measured[key] = [[c, i, n] for (c, i), n in sorted(lit.items())]
    return charges, sla_credit_lines(states, period, tz, lit, charges)


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
    sla_lit: dict[str, list] | None = None,
) -> Assembled:
    """Load the inputs of closing `period` and assemble its drafts (pure `billing.invoicing`).

    Live closes pass only the watermark; replay passes the stored `contract_versions`, `adjusted`
    periods, the close's `before_seq` and the lit allocated seconds its SLA credits measured
    (`sla_lit`), and so rebuilds exactly what the close saw.
    """
    states = contract_streams.contract_states(conn, tenant_id, contract_versions)
    versions = {state.id: state.version for state in states}
    cuts = rating_boundaries(states, tz)
    rated = rate_period(
        states,
        period,
        tz,
        query.gpu_rows(conn, tenant_id, period, tz, watermark, cuts),
        query.token_rows(conn, tenant_id, period, tz, watermark, cuts),
    )
    with_sla = bool(sla_items(states))
    if adjusted is None:
        late = late_periods(conn, tenant_id, period, tz, watermark, versions, with_sla)
    else:
        late = [Period.parse(p) for p in adjusted]
    measured: dict[str, list] = {}
    adjustments: list[ChargeLine] = []
    for closed in late:
        usage = rate_period(
            states,
            closed,
            tz,
            query.gpu_rows(conn, tenant_id, closed, tz, watermark, cuts),
            query.token_rows(conn, tenant_id, closed, tz, watermark, cuts),
        ).usage
        recomputed, credits = _sla_lines(conn, tenant_id, states, closed, tz, usage, sla_lit, measured)
        charged = invoices.charged_lines(conn, tenant_id, closed, before_seq)
        adjustments.extend(adjustment_lines(closed, charged, [*recomputed, *credits], tz))
    _, credits = _sla_lines(conn, tenant_id, states, period, tz, rated.usage, sla_lit, measured)
    drafts = assemble_invoices(tenant_id, period, tz, states, rated.usage, None, adjustments, credits)
    unrated = sum(row.card_seconds for row in rated.unrated_gpu)
    inputs = {
        "contract_versions": versions,
        "adjusted": [str(p) for p in late],
        "timezone": tz,
        "unrated_card_seconds": unrated,
        "unrated_tokens": sum(row.tokens for row in rated.unrated_tokens),
    }
    if measured:
        inputs["sla_lit"] = measured
    return Assembled(drafts, inputs)


# --- the service ---------------------------------------------------------------------------------


def close_tenant(
    engine: Engine,
    tenant_id: str,
    period: Period,
    *,
    now: datetime | None = None,
    receipts: Receipts | None = None,
    drain_timeout_s: float = 60,
) -> list[str]:
    """Close `period` for `tenant_id` and return its invoice ids (the same ids when repeated).

    With `receipts`, first waits up to `drain_timeout_s` for every batch of the tenant acknowledged
    before the close began (`billing.services.barrier`; BatchesNotRecorded, 409, when one is not).
    Raises Conflict when the period has not ended in the tenant's timezone, NotFound for an unknown tenant.
    """
    now = now or utc_now()
    if receipts is not None:
        with engine.connect() as conn:
            done = closes.closed_invoice_ids(conn, tenant_id, period)
        if done is not None:
            return done
        wait_for_acknowledged(engine, receipts, tenant_id, drain_timeout_s)
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": close_lock_key(tenant_id)})
        done = closes.closed_invoice_ids(conn, tenant_id, period)
        if done is not None:
            return done
        tz = tenants.zone_of(conn, tenant_id)
        if now < period.end(tz):
            raise Conflict(
                f"period {period} has not ended for tenant {tenant_id} ({tz})",
                [{"field": "period", "reason": f"ends at {instant_to_json(period.end(tz))}"}],
            )
        watermark = query.read_watermark(engine)
        assembled = assemble(conn, tenant_id, period, tz, watermark)
        close_seq = closes.next_close_seq(conn)
        ids = [_issue(conn, draft, tz, close_seq, now) for draft in assembled.drafts]
        closes.record_close(conn, tenant_id, period, close_seq, now, watermark, assembled.inputs, ids)
        outbox.emit(
            conn,
            "period.closed",
            {"tenant_id": tenant_id, "period": str(period), "closed_at": instant_to_json(now), "invoice_ids": ids},
        )
        return ids


def close_period(
    engine: Engine,
    period: Period,
    tenant_id: str | None = None,
    *,
    now: datetime | None = None,
    receipts: Receipts | None = None,
    drain_timeout_s: float = 60,
) -> list[str]:
    """Close `period` for one tenant, or for every tenant whose `period` has ended; invoice ids.

    With `receipts`, the close barrier runs first (for every tenant at once when none is named), so a
    close that cannot include an acknowledged batch issues nothing.

    Raises Conflict (naming `period`) when the period has ended for no tenant yet — with no tenant at
    all, when it has not ended anywhere (UTC+14, the first zone to leave a month): an unended period
    is refused whether or not a tenant is named.
    """
    now = now or utc_now()
    if tenant_id is not None:
        return close_tenant(engine, tenant_id, period, now=now, receipts=receipts, drain_timeout_s=drain_timeout_s)
    with engine.connect() as conn:
        zones = tenants.zones(conn)
    first_end = min(period.end(tz) for tz in {tz for _, tz in zones} or {EARLIEST_ZONE})
    if now < first_end:
        raise Conflict(
            f"period {period} has not ended for any tenant",
            [{"field": "period", "reason": f"ends at {instant_to_json(first_end)} at the earliest"}],
        )
    if receipts is not None:
        wait_for_acknowledged(engine, receipts, None, drain_timeout_s)
    ids: list[str] = []
    for tenant, tz in zones:
        if now >= period.end(tz):
            ids.extend(close_tenant(engine, tenant, period, now=now))
    return ids


def _issue(conn: Connection, draft: InvoiceDraft, tz: str, close_seq: int, issued_at: datetime) -> str:
    """Number and store one draft with its lines; add it to the tenant's balance."""
    invoice_id = f"inv_{uuid.uuid4().hex[:20]}"
    number = numbering.allocate(conn, numbering.INVOICE_SERIES, draft.currency, issued_at)
    invoices.insert_invoice(conn, invoice_id, number, draft, tz, close_seq, issued_at)
    balances.add_to_balance(conn, draft.tenant_id, draft.currency, invoiced=draft.total)
    parties.record(conn, invoice_id, draft.tenant_id, tz, issued_at)
    outbox.emit(conn, "invoice.issued", invoice_json(conn, invoice_id))
    return invoice_id
