"""Service: close a billing period for a tenant and issue its invoices (SPEC §7).

A close is one transaction per tenant (or per chunk of tenants when every tenant is closed: their
inputs loaded together, their invoices written in batches), under per-tenant advisory locks:
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
import multiprocessing
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from typing import Any

from sqlalchemy import Connection, Engine, text

from billing.core.contracts import ContractState
from billing.core.invoicing import InvoiceDraft, adjustment_lines, assemble_invoices
from billing.core.lines import ChargeLine
from billing.core.periods import Period, instant_to_json
from billing.core.pricing import charges_for_period
from billing.core.rating import rate_period, rating_boundaries
from billing.core.sla import sla_credit_lines, sla_items
from billing.services import parties
from billing.services.barrier import wait_for_acknowledged
from billing.services.invoices import invoice_jsons
from billing.store import balances, closes, contract_streams, invoices, numbering, outbox, tenants
from kashi.errors import Conflict
from metering import fleet_query, query
from metering.hourly import GpuRollupRow, TokenRollupRow
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
        if changed or late_usage or with_sla and _late_status(conn, tenant_id, closed, tz, row.watermark):
            found.append(closed)
    return found


def _late_status(conn: Connection, tenant_id: str, closed: Period, tz: str, closed_watermark: int) -> bool:
    return fleet_query.has_late_status(conn, tenant_id, closed.start(tz), closed.end(tz), closed_watermark)


def late_periods_of(
    conn: Connection,
    tenants: list[tuple[str, str]],
    period: Period,
    watermark: int,
    states: dict[str, list[ContractState]],
) -> dict[str, list[Period]]:
    """:func:`late_periods` of many ``(tenant, timezone)`` at once (two queries)."""
    earlier = closes.closes_before_of(conn, [tenant for tenant, _ in tenants], period)
    late: dict[str, list[Period]] = {tenant: [] for tenant, _ in tenants}
    checks: list[tuple[str, Period, str, int]] = []
    changed: set[int] = set()
    for tenant, tz in tenants:
        versions = {state.id: state.version for state in states.get(tenant, [])}
        for row in earlier.get(tenant, []):
            if row.inputs.get("contract_versions") != versions:
                changed.add(len(checks))
            checks.append((tenant, Period.parse(row.period), tz, row.watermark))
    found = {n for _, n in query.late_usage_of(conn, [c for n, c in enumerate(checks) if n not in changed], watermark)}
    unchanged = [n for n in range(len(checks)) if n not in changed]
    late_at = changed | {unchanged[n] for n in found}
    with_sla = {tenant for tenant, _ in tenants if sla_items(states.get(tenant, []))}
    late_at |= {
        n
        for n, (tenant, closed, tz, closed_watermark) in enumerate(checks)
        if n not in late_at and tenant in with_sla and _late_status(conn, tenant, closed, tz, closed_watermark)
    }
    for n, (tenant, closed, _, _) in enumerate(checks):
        if n in late_at:
            late[tenant].append(closed)
    return late


@dataclass(frozen=True)
class Preloaded:
    """What :func:`assemble` reads for the period being closed, fetched for a chunk of tenants at
    once (`preload`): contract states, the period's usage, the earlier periods to adjust."""

    states: dict[str, list[ContractState]]
    gpu: dict[str, list[GpuRollupRow]]
    tokens: dict[str, list[TokenRollupRow]]
    late: dict[str, list[Period]]


def preload(conn: Connection, tenants: list[tuple[str, str]], period: Period, watermark: int) -> Preloaded:
    """The inputs of closing `period` for every ``(tenant, timezone)``, in a fixed number of queries."""
    states = contract_streams.contract_states_of(conn, [tenant for tenant, _ in tenants])
    spans = [(tenant, tz, rating_boundaries(states.get(tenant, []), tz)) for tenant, tz in tenants]
    return Preloaded(
        states,
        query.gpu_rows_of(conn, spans, period, watermark),
        query.token_rows_of(conn, spans, period, watermark),
        late_periods_of(conn, tenants, period, watermark, states),
    )


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
    preloaded: Preloaded | None = None,
    sla_lit: dict[str, list] | None = None,
) -> Assembled:
    """Load the inputs of closing `period` and assemble its drafts (pure `billing.invoicing`).

    Live closes pass only the watermark; replay passes the stored `contract_versions`, `adjusted`
    periods, the close's `before_seq` and the lit allocated seconds its SLA credits measured
    (`sla_lit`), and so rebuilds exactly what the close saw. A close of many
    tenants passes what `preload` fetched for all of them (earlier periods to adjust are still read
    per tenant: only tenants with late usage or changed contracts have any).
    """
    if preloaded is None:
        states = contract_streams.contract_states(conn, tenant_id, contract_versions)
    else:
        states = preloaded.states.get(tenant_id, [])
    versions = {state.id: state.version for state in states}
    cuts = rating_boundaries(states, tz)
    if preloaded is None:
        gpu, tokens = (
            query.gpu_rows(conn, tenant_id, period, tz, watermark, cuts),
            query.token_rows(conn, tenant_id, period, tz, watermark, cuts),
        )
    else:
        gpu, tokens = preloaded.gpu[tenant_id], preloaded.tokens[tenant_id]
    rated = rate_period(states, period, tz, gpu, tokens)
    with_sla = bool(sla_items(states))
    if adjusted is None and preloaded is not None:
        late = preloaded.late[tenant_id]
    elif adjusted is None:
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


# --- writing ------------------------------------------------------------------------------------


def issue_closes(
    conn: Connection, period: Period, watermark: int, now: datetime, assembled: list[tuple[str, str, Assembled]]
) -> dict[str, list[str]]:
    """Number and store the drafts of many ``(tenant, timezone, assembled)`` closes with their close
    records and balances, in batches; the invoice ids of each tenant.

    Numbers are drawn per currency as one gapless block (`numbering.allocate_block`, currencies in
    sorted order so concurrent closes never deadlock on the counters) and handed out in tenant order
    then draft order: the numbers closing the tenants one after another would have given."""
    if not assembled:
        return {}
    close_seqs = closes.next_close_seqs(conn, len(assembled))
    drafts = [
        (tenant, tz, seq, draft)
        for (tenant, tz, done), seq in zip(assembled, close_seqs, strict=True)
        for draft in done.drafts
    ]
    wanted: dict[str, int] = defaultdict(int)
    for *_, draft in drafts:
        wanted[draft.currency] += 1
    numbers = {
        currency: iter(numbering.allocate_block(conn, numbering.INVOICE_SERIES, currency, now, wanted[currency]))
        for currency in sorted(wanted)
    }
    ids: dict[str, list[str]] = {tenant: [] for tenant, _, _ in assembled}
    rows = []
    for tenant, tz, seq, draft in drafts:
        invoice_id = f"inv_{uuid.uuid4().hex[:20]}"
        ids[tenant].append(invoice_id)
        rows.append((invoice_id, next(numbers[draft.currency]), draft, tz, seq))
    invoices.insert_invoices(conn, rows, now)
    balances.add_invoiced(conn, [(draft.tenant_id, draft.currency, draft.total) for *_, draft in drafts])
    closes.record_closes(
        conn,
        [
            (tenant, period, seq, now, watermark, done.inputs, ids[tenant])
            for (tenant, _, done), seq in zip(assembled, close_seqs, strict=True)
        ],
    )
    parties.record(conn, [(invoice_id, draft.tenant_id, tz) for invoice_id, _, draft, tz, _ in rows], now)
    outbox.emit_many(conn, "invoice.issued", invoice_jsons(conn, [invoice_id for invoice_id, *_ in rows]))
    closed_at = instant_to_json(now)
    outbox.emit_many(
        conn,
        "period.closed",
        [
            {"tenant_id": tenant, "period": str(period), "closed_at": closed_at, "invoice_ids": ids[tenant]}
            for tenant, _, _ in assembled
        ],
    )
    return ids


def lock_tenants(conn: Connection, tenant_ids: Iterable[str]) -> None:
    """Take the close lock of every tenant, in one sorted order (two closes never deadlock)."""
    keys = sorted({close_lock_key(tenant) for tenant in tenant_ids})
    conn.execute(text("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:k AS bigint[])) AS k"), {"k": keys})


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
        return issue_closes(conn, period, watermark, now, [(tenant_id, tz, assembled)])[tenant_id]


CLOSE_CHUNK = 500
"""Tenants closed per transaction when every tenant's period is closed."""


def close_chunk(engine: Engine, tenants: list[tuple[str, str]], period: Period, now: datetime) -> list[str]:
    """Close `period` (ended) for a chunk of ``(tenant, timezone)`` in one transaction, under every
    tenant's close lock: the closed ones answer their ids, the others are loaded together
    (`preload`), assembled one by one (`assemble`, pure) and written in batches (`issue_closes`)."""
    with engine.begin() as conn:
        lock_tenants(conn, [tenant for tenant, _ in tenants])
        ids = closes.closed_invoice_ids_of(conn, [tenant for tenant, _ in tenants], period)
        todo = [(tenant, tz) for tenant, tz in tenants if tenant not in ids]
        if todo:
            watermark = query.read_watermark(engine)
            loaded = preload(conn, todo, period, watermark)
            assembled = [
                (tenant, tz, assemble(conn, tenant, period, tz, watermark, preloaded=loaded)) for tenant, tz in todo
            ]
            ids.update(issue_closes(conn, period, watermark, now, assembled))
    return [invoice_id for tenant, _ in tenants for invoice_id in ids[tenant]]


def close_period(
    engine: Engine,
    period: Period,
    tenant_id: str | None = None,
    *,
    now: datetime | None = None,
    receipts: Receipts | None = None,
    drain_timeout_s: float = 60,
    processes: int = 1,
) -> list[str]:
    """Close `period` for one tenant, or for every tenant whose `period` has ended; invoice ids.

    With `receipts`, the close barrier runs first (for every tenant at once when none is named), so a
    close that cannot include an acknowledged batch issues nothing.

    Every tenant: in chunks of `CLOSE_CHUNK` tenants (`close_chunk`), over `processes` worker
    processes when more than one (each with its own engine).

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
    due = [(tenant, tz) for tenant, tz in zones if now >= period.end(tz)]
    return close_tenants(engine, due, period, now, processes=processes)


def close_due(
    engine: Engine,
    period: Period,
    tenant_ids: list[str],
    *,
    now: datetime | None = None,
    receipts: Receipts | None = None,
    drain_timeout_s: float = 60,
) -> list[str]:
    """The scheduler's close: `period` for a chunk of tenants, in transactions of `CLOSE_CHUNK`
    (`close_chunk`); invoice ids in tenant order, the same when repeated.

    With `receipts`, first the close barrier for the tenants not closed yet (their own pending
    batches, `billing.services.barrier`). Tenants whose `period` has not ended in their timezone, and
    unknown ones, are left out (the scheduler names only ended periods)."""
    now = now or utc_now()
    with engine.connect() as conn:
        zones = tenants.zones(conn, list(tenant_ids))
        closed = closes.closed_invoice_ids_of(conn, [tenant for tenant, _ in zones], period)
    due = [(tenant, tz) for tenant, tz in zones if now >= period.end(tz)]
    if receipts is not None:
        open_ = [tenant for tenant, _ in due if tenant not in closed]
        if open_:
            wait_for_acknowledged(engine, receipts, open_, drain_timeout_s)
    return close_tenants(engine, due, period, now)


def close_tenants(
    engine: Engine, tenants: list[tuple[str, str]], period: Period, now: datetime, *, processes: int = 1
) -> list[str]:
    """Close the ended `period` for ``(tenant, timezone)`` pairs in chunks of `CLOSE_CHUNK`, over
    `processes` worker processes (spawned, each with its own engine) when more than one; invoice ids
    in tenant order."""
    chunks = [tenants[n : n + CLOSE_CHUNK] for n in range(0, len(tenants), CLOSE_CHUNK)]
    if processes <= 1 or len(chunks) <= 1:
        return [invoice_id for chunk in chunks for invoice_id in close_chunk(engine, chunk, period, now)]
    url = engine.url.render_as_string(hide_password=False)
    with ProcessPoolExecutor(
        min(processes, len(chunks)),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_close_process,
        initargs=(url,),
    ) as pool:
        done = pool.map(_close_chunk_in_process, chunks, repeat(str(period)), repeat(now))
        return [invoice_id for ids in done for invoice_id in ids]


_process_engine: Engine | None = None


def _start_close_process(url: str) -> None:
    from kashi.db import make_engine

    global _process_engine
    _process_engine = make_engine(url)


def _close_chunk_in_process(tenants: list[tuple[str, str]], period: str, now: datetime) -> list[str]:
    assert _process_engine is not None
    return close_chunk(_process_engine, tenants, Period.parse(period), now)
