"""Service: rebuild every projection from the stored events, and prove the invoices (SPEC §7, `kashi replay`).

Projections, and what each is the fold of:
- `gpu_coverage`, `usage_conflicts`, `gpu_hourly`, `token_hourly`: the usage log `usage_log` in seq
  order, through the same pure rules as ingest (`metering.rollups.claim`, `gpu_rollup`, `token_rollup`);
- `contracts`: each `contract:<id>` stream folded (`billing.contracts.fold`);
- `gpu_models`, `gpu_model_prices`: the catalog stream; `balances`: invoices − credit notes − payments;
- `suppliers`, `market_rents`, `contracts_at_risk`: the `supplier:*`, `market:*` and `risk:*` streams;
  supplier bills are re-assembled from their closes' stored inputs like invoices.
- `tenant_profiles`: each `tenant:<id>` stream; `fapiao`: the `FapiaoRecorded` events of `invoice:<id>` streams;
  `webhook_endpoints`: each `webhook:<id>` stream.
- `gpu_status_coverage`, `gpu_status_hourly`, `fleet_hourly`, `tenant_fleet_hourly`, `fleet_gpus`: the
  same log's `gpu.status` and `gpu.usage` (`metering.fleet_store.record_fleet`), and the `fleet:<gpu>`
  retirement streams;

`rebuild_in_place` empties and refills them with ingest fenced off, committing the usage projections one
chunk of the log at a time with a resumable checkpoint (`replay_checkpoints`).
`verify_all` rebuilds them into a scratch schema (first on the search_path, so the very same code
writes there), compares each with what is stored, then re-assembles every issued invoice from its
close's stored inputs (watermark, contract versions, adjusted periods) against the rebuilt usage and
compares it line by line; the scratch schema is rolled back. It returns every difference found.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Connection, Engine, text

from billing.core.periods import Period
from billing.core.rating import rating_boundaries
from billing.services import market, risk, suppliers
from billing.services.catalog import rebuild_projection
from billing.services.close import Preloaded, assemble
from billing.services.contracts import projection_state
from billing.services.invoices import rebuild_fapiao
from billing.services.supplier_bills import verify_bills
from billing.services.tenants import rebuild_profiles
from billing.services.webhooks import rebuild_endpoints
from billing.store import tenants
from billing.store.contract_streams import contract_states_of, every_contract
from billing.store.invoices import line_row
from metering import query
from metering.events import UsageRecord
from metering.fleet import FLEET_COLUMNS, FLEET_TABLES, rebuild_retirements
from metering.fleet_store import record_fleet
from metering.rollups import claim, gpu_rollup, token_rollup
from metering.store import (
    INGEST_FENCE,
    add_gpu_rollups,
    add_token_rollups,
    insert_conflicts,
    insert_pieces,
    load_coverage,
    read_log,
)
from metering.store import log_top as top_seq

USAGE_TABLES = ("gpu_coverage", "usage_conflicts", "gpu_hourly", "token_hourly", *FLEET_TABLES)
STREAM_PROJECTIONS = (
    "suppliers",
    "contracts",
    "gpu_models",
    "gpu_model_prices",
    "balances",
    "market_rents",
    "contracts_at_risk",
    "tenant_profiles",
    "fapiao",
    "webhook_endpoints",
)
_COMPARED_COLUMNS = {
    "gpu_coverage": "gpu_no, start_s, end_s, seq, tenant_id, contract_id, gpu_model",
    "usage_conflicts": "seq, gpu, start_s, end_s, tenant_id, holder_tenant_id",
    "gpu_hourly": "tenant_id, contract_id, gpu_model, hour, card_seconds",
    "token_hourly": "tenant_id, contract_id, model, hour, input_tokens, output_tokens, cached_tokens",
    "contracts": "id, tenant_id, supplier_id, currency, version, state",
    "suppliers": "id, name, legal_name, tax_id, currency, timezone, created_at",
    "market_rents": "gpu_model, version, unit, price, currency, cards_per_machine, observed_at, source, recorded_at",
    "contracts_at_risk": "contract_id, tenant_id, since, saving, currency",
    "gpu_models": "name, fp16_tflops, source",
    "gpu_model_prices": "name, list_price_per_card_hour",
    **FLEET_COLUMNS,
    "balances": "tenant_id, currency, invoiced, credited, paid",
    "tenant_profiles": "tenant_id, legal_name, tax_id, address, billing_email, payment_terms_days",
    "fapiao": "number, invoice_id, issued_on, kind, recorded_at",
    "webhook_endpoints": "id, url, events, secret, created_at, deleted_at",
}
PROJECTIONS = (*USAGE_TABLES, *STREAM_PROJECTIONS)
"""What a comparison looks at (`contracts.updated_at` is when the row was written, not state)."""


# --- rebuilding -----------------------------------------------------------------------------------


REPLAY_CHUNK = 10_000
"""Log rows replayed per step: memory stays flat however long the log is."""

Progress = Callable[[int, int], None]
"""Called after each chunk with (events in the chunk, the seq reached)."""


def log_chunks(conn: Connection, after: int = 0) -> Iterator[list[tuple[int, UsageRecord]]]:
    """The log after seq `after` in seq order as ``(seq, record)``, `REPLAY_CHUNK` seqs per query (a
    range scan on the log's BRIN index on seq: every chunk is one bounded fetch; seqs a rolled-back
    batch drew are gaps, so a chunk may hold fewer events)."""
    top = top_seq(conn)
    while after < top:
        upto = min(after + REPLAY_CHUNK, top)
        chunk = read_log(conn, after, upto)
        after = upto
        if chunk:
            yield chunk


def replay_chunk(conn: Connection, chunk: list[tuple[int, UsageRecord]]) -> None:
    """One chunk of the log through the steps a worker takes for a batch (`load_coverage`, `claim`,
    inserts, rollups), so a replay counts every GPU-second exactly as ingest did."""
    gpu = [(seq, r) for seq, r in chunk if r.kind == "gpu"]
    tokens = [r for _, r in chunk if r.kind == "tokens"]
    status = [(seq, r) for seq, r in chunk if r.kind == "status"]
    pieces, conflicts = claim(gpu, load_coverage(conn, [record for _, record in gpu]))
    insert_pieces(conn, pieces)
    insert_conflicts(conn, conflicts)
    add_gpu_rollups(conn, gpu_rollup(pieces))
    add_token_rollups(conn, token_rollup(tokens))
    record_fleet(conn, pieces, dict(gpu), status)


def rebuild_usage(conn: Connection, progress: Progress | None = None) -> int:
    """Refill the (empty) usage projections from the whole log in seq order, in the caller's
    transaction (verify); returns events replayed."""
    count = 0
    for chunk in log_chunks(conn):
        replay_chunk(conn, chunk)
        count += len(chunk)
        if progress:
            progress(len(chunk), chunk[-1][0])
    return count


def log_top(engine: Engine) -> int:
    """The highest seq in the log (a progress bar's total)."""
    with engine.connect() as conn:
        return top_seq(conn)


def rebuild_contracts(conn: Connection) -> int:
    """Refill `contracts` by folding every contract stream (one pass over the streams: which
    contracts are a tenant's is what this projection answers, so it is not read while rebuilt)."""
    zones = dict(tenants.zones(conn))
    supplier_zones = dict(conn.execute(text("SELECT id, timezone FROM suppliers")).all())
    rows = []
    for state in every_contract(conn):
        tenant, supplier = state.terms.tenant_id, state.terms.supplier_id
        tz = supplier_zones.get(supplier) if supplier is not None else zones.get(tenant)
        if tz is not None:
            rows.append(
                {
                    "id": state.id,
                    "t": tenant if supplier is None else None,
                    "su": supplier,
                    "c": state.currency,
                    "v": state.version,
                    "s": _json(projection_state(state, tz)),
                }
            )
    if rows:
        conn.execute(
            text("""INSERT INTO contracts (id, tenant_id, supplier_id, currency, version, state)
                             VALUES (:id, :t, :su, :c, :v, CAST(:s AS jsonb))"""),
            rows,
        )
    return len(rows)


def rebuild_balances(conn: Connection) -> int:
    """Refill `balances` from the issued documents."""
    return conn.execute(
        text("""INSERT INTO balances (tenant_id, currency, invoiced, credited, paid)
                SELECT tenant_id, currency, sum(invoiced), sum(credited), sum(paid) FROM (
                  SELECT tenant_id, currency, total AS invoiced, 0 AS credited, 0 AS paid FROM invoices
                  UNION ALL SELECT tenant_id, currency, 0, amount, 0 FROM credit_notes
                  UNION ALL SELECT tenant_id, currency, 0, 0, amount FROM payments) AS documents
                GROUP BY tenant_id, currency"""),
    ).rowcount


def _rebuild_streams(conn: Connection) -> dict[str, int]:
    return {
        "suppliers": suppliers.rebuild_projection(conn),
        "contracts": rebuild_contracts(conn),
        "gpu models": rebuild_projection(conn),
        "gpu retirements": rebuild_retirements(conn),
        "balances": rebuild_balances(conn),
        "market rents": market.rebuild_projection(conn),
        "contracts at risk": risk.rebuild_projection(conn),
        "tenant profiles": rebuild_profiles(conn),
        "fapiao": rebuild_fapiao(conn),
        "webhook endpoints": rebuild_endpoints(conn),
    }


def _rebuild_all(conn: Connection, progress: Progress | None = None) -> dict[str, int]:
    return {"usage events": rebuild_usage(conn, progress), **_rebuild_streams(conn)}


def rebuild_in_place(engine: Engine, progress: Progress | None = None) -> dict[str, int]:
    """Empty every projection and rebuild it from the events; ingest and closes wait meanwhile.

    The usage projections are rebuilt one committed chunk at a time, each with its checkpoint in
    `replay_checkpoints`, so no transaction grows with the log; the stream projections (contracts,
    catalog, balances, suppliers, market rents, profiles, …) are rebuilt in the last transaction,
    which also drops the checkpoint. The ingest fence is held, exclusively, by a session lock for the
    whole rebuild. A rebuild that died is resumed from its checkpoint when nothing was logged since,
    and started over otherwise.
    """
    with engine.connect() as fence:
        fence.execute(text("SELECT pg_advisory_lock(:k)"), {"k": INGEST_FENCE})
        fence.commit()
        try:
            after, count = _start_or_resume(engine)
            if progress and after:
                progress(0, after)
            while True:
                with engine.begin() as conn:
                    chunk = next(log_chunks(conn, after), None)
                    if chunk is None:
                        break
                    replay_chunk(conn, chunk)
                    after, count = chunk[-1][0], count + len(chunk)
                    conn.execute(
                        text("UPDATE replay_checkpoints SET seq = :s, events = :n WHERE id = 1"),
                        {"s": after, "n": count},
                    )
                if progress:
                    progress(len(chunk), after)
            with engine.begin() as conn:
                conn.execute(
                    text("LOCK TABLE contracts, balances, suppliers, market_rents, contracts_at_risk IN EXCLUSIVE MODE")
                )
                for table in STREAM_PROJECTIONS:
                    conn.execute(text(f"DELETE FROM {table}"))
                counts = {"usage events": count, **_rebuild_streams(conn)}
                conn.execute(text("DELETE FROM replay_checkpoints"))
            return counts
        finally:
            fence.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": INGEST_FENCE})
            fence.commit()


def _start_or_resume(engine: Engine) -> tuple[int, int]:
    """(seq replayed so far, events) of the rebuild to continue: a checkpoint whose log top is still
    the log's top (nothing recorded since it died), else a fresh start with the usage tables emptied."""
    with engine.begin() as conn:
        top = top_seq(conn)
        checkpoint = conn.execute(text("SELECT upto, seq, events FROM replay_checkpoints WHERE id = 1")).first()
        if checkpoint is not None and checkpoint.upto == top:
            return checkpoint.seq, checkpoint.events
        for table in USAGE_TABLES:
            conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(
            text("""INSERT INTO replay_checkpoints (id, upto, seq, events) VALUES (1, :u, 0, 0)
                             ON CONFLICT (id) DO UPDATE SET upto = :u, seq = 0, events = 0, started_at = now()"""),
            {"u": top},
        )
    return 0, 0


# --- verifying ------------------------------------------------------------------------------------


def verify_all(engine: Engine, progress: Progress | None = None) -> list[str]:
    """Every difference between the stored state and a replay from the events; [] when identical.

    One REPEATABLE READ transaction, rolled back: verifying changes nothing, so it needs one
    consistent snapshot rather than commits; the log is still read and replayed chunk by chunk
    (`log_chunks`), so memory stays flat."""
    schema = f"kashi_replay_{uuid.uuid4().hex[:12]}"
    with engine.connect() as conn, conn.begin() as transaction:
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        conn.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": INGEST_FENCE})
        conn.execute(text(f"CREATE SCHEMA {schema}"))
        for table in PROJECTIONS:
            conn.execute(text(f"CREATE TABLE {schema}.{table} (LIKE public.{table} INCLUDING ALL)"))
        conn.execute(text(f"SET LOCAL search_path = {schema}, public"))
        _rebuild_all(conn, progress)
        differences = [d for table in PROJECTIONS for d in _compare(conn, schema, table)]
        differences += verify_invoices(conn)
        differences += verify_bills(conn)
        transaction.rollback()
    return differences


def _compare(conn: Connection, schema: str, table: str) -> list[str]:
    columns = _COMPARED_COLUMNS[table]
    found = []
    for label, first, second in (
        ("stored, not replayed", "public", schema),
        ("replayed, not stored", schema, "public"),
    ):
        rows = conn.execute(
            text(f"SELECT {columns} FROM {first}.{table} EXCEPT ALL SELECT {columns} FROM {second}.{table} LIMIT 50")
        ).all()
        found += [f"{table}: {label}: {tuple(row)}" for row in rows]
    return found


def verify_invoices(conn: Connection) -> list[str]:
    """Re-assemble every close from its stored inputs and compare with its stored invoices.

    Closes that saw the same period and watermark (a chunk of a close of every tenant) are loaded
    together, as the chunk was (`close.Preloaded`, each contract capped at its stored version), with
    their stored invoices and lines in two queries; each is then assembled alone."""
    groups: dict[tuple[str, int], list[Any]] = defaultdict(list)
    for close in conn.execute(text("SELECT * FROM period_closes ORDER BY close_seq")):
        groups[(close.period, close.watermark)].append(close)
    differences: list[str] = []
    for (period_text, watermark), group in groups.items():
        period = Period.parse(period_text)
        spans = [(close.tenant_id, close.inputs["timezone"]) for close in group]
        versions = {
            contract: version for close in group for contract, version in close.inputs["contract_versions"].items()
        }
        states = contract_states_of(conn, [tenant for tenant, _ in spans], versions)
        cuts = [(tenant, tz, rating_boundaries(states.get(tenant, []), tz)) for tenant, tz in spans]
        loaded = Preloaded(
            states,
            query.gpu_rows_of(conn, cuts, period, watermark),
            query.token_rows_of(conn, cuts, period, watermark),
            late={},
        )
        stored_invoices = conn.execute(
            text("SELECT * FROM invoices WHERE close_seq = ANY(:s)"), {"s": [close.close_seq for close in group]}
        ).all()
        lines: dict[str, list[dict]] = defaultdict(list)
        for row in conn.execute(
            text("SELECT * FROM invoice_lines WHERE invoice_id = ANY(:i) ORDER BY position"),
            {"i": [invoice.id for invoice in stored_invoices]},
        ).mappings():
            lines[row["invoice_id"]].append(dict(row))
        by_close: dict[int, dict[str, Any]] = defaultdict(dict)
        for invoice in stored_invoices:
            by_close[invoice.close_seq][invoice.currency] = invoice
        for close in group:
            inputs = close.inputs
            tz = inputs["timezone"]
            assembled = assemble(
                conn,
                close.tenant_id,
                period,
                tz,
                close.watermark,
                contract_versions=inputs["contract_versions"],
                adjusted=inputs["adjusted"],
                before_seq=close.close_seq,
                preloaded=loaded,
                sla_lit=inputs.get("sla_lit", {}),
            )
            stored = by_close[close.close_seq]
            replayed = {draft.currency: draft for draft in assembled.drafts}
            where = f"{close.tenant_id} {close.period}"
            for currency in sorted(set(stored) | set(replayed)):
                invoice, draft = stored.get(currency), replayed.get(currency)
                if invoice is None or draft is None:
                    differences.append(f"invoice {where} {currency}: {'stored' if invoice else 'replayed'} only")
                    continue
                differences += _compare_invoice(invoice, draft, tz, lines[invoice.id])
    return differences


def _compare_invoice(invoice: Any, draft: Any, tz: str, stored_lines: list[dict]) -> list[str]:
    found = []
    label = f"invoice {invoice.number}"
    for field in ("subtotal", "tax", "total"):
        if getattr(invoice, field) != getattr(draft, field):
            found.append(f"{label}: {field} stored {getattr(invoice, field)} replayed {getattr(draft, field)}")
    replayed = [line_row(invoice.id, n, line, draft.period, tz) for n, line in enumerate(draft.lines, 1)]
    by_position = defaultdict(dict)
    for row in stored_lines:
        by_position[row["position"]]["stored"] = row
    for row in replayed:
        by_position[row["position"]]["replayed"] = row
    for position in sorted(by_position):
        pair = by_position[position]
        stored, again = pair.get("stored"), pair.get("replayed")
        if stored is None or again is None:
            found.append(f"{label} line {position}: {'stored' if stored else 'replayed'} only")
            continue
        for key, value in again.items():
            if stored[key] != value:
                found.append(f"{label} line {position} {key}: stored {stored[key]!r} replayed {value!r}")
    return found


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
