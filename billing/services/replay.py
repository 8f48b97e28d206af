"""Service: rebuild every projection from the stored events, and prove the invoices (SPEC §7, `kashi replay`).

Projections, and what each is the fold of:
- `gpu_coverage`, `usage_conflicts`, `gpu_hourly`, `token_hourly`: the usage log `usage_events` in seq
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

`rebuild_in_place` empties and refills them in one transaction, with ingest fenced off.
`verify_all` rebuilds them into a scratch schema (first on the search_path, so the very same code
writes there), compares each with what is stored, then re-assembles every issued invoice from its
close's stored inputs (watermark, contract versions, adjusted periods) against the rebuilt usage and
compares it line by line; the scratch schema is rolled back. It returns every difference found.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, Engine, text

from billing.core.periods import Period
from billing.services import market, risk, suppliers
from billing.services.catalog import rebuild_projection
from billing.services.close import assemble
from billing.services.contracts import projection_state
from billing.services.invoices import rebuild_fapiao
from billing.services.supplier_bills import verify_bills
from billing.services.tenants import rebuild_profiles
from billing.services.webhooks import rebuild_endpoints
from billing.store import tenants
from billing.store.contract_streams import contract_states
from billing.store.invoices import line_row
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
)

USAGE_TABLES = ("gpu_coverage", "usage_conflicts", "gpu_hourly", "token_hourly", *FLEET_TABLES)
PROJECTIONS = (
    *USAGE_TABLES,
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
    "gpu_coverage": "gpu, start_s, end_s, seq, tenant_id, contract_id, gpu_model",
    "usage_conflicts": "seq, gpu, start_s, end_s, tenant_id, holder_tenant_id",
    "gpu_hourly": "tenant_id, contract_id, gpu_model, hour, card_seconds",
    "token_hourly": "tenant_id, contract_id, model, kind, hour, tokens",
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
"""What a comparison looks at (`contracts.updated_at` is when the row was written, not state)."""


# --- rebuilding -----------------------------------------------------------------------------------


def record_from_row(row: Any) -> UsageRecord:
    """A usage_events row as the UsageRecord ingest built from the same CloudEvent."""
    return UsageRecord.from_log(row.type, row.source, row.id, row.tenant_id, row.event_time, row.contract_id, row.data)


REPLAY_CHUNK = 10_000
"""Log rows replayed per step: memory stays flat however long the log is."""


def rebuild_usage(conn: Connection) -> int:
    """Refill the (empty) usage projections from the whole log in seq order; returns events replayed.

    The log is streamed in chunks, and each chunk goes through the steps a worker takes for a batch
    (`load_coverage`, `claim`, inserts, rollups), so a replay counts every GPU-second exactly as ingest did.
    """
    rows = conn.execute(
        text("SELECT * FROM usage_events ORDER BY seq"),
        execution_options={"stream_results": True, "yield_per": REPLAY_CHUNK},
    )
    count = 0
    for chunk in rows.partitions():
        gpu = [(row.seq, record_from_row(row)) for row in chunk if row.type == "gpu.usage"]
        tokens = [record_from_row(row) for row in chunk if row.type == "llm.tokens"]
        status = [(row.seq, record_from_row(row)) for row in chunk if row.type == "gpu.status"]
        pieces, conflicts = claim(gpu, load_coverage(conn, [record for _, record in gpu]))
        insert_pieces(conn, pieces)
        insert_conflicts(conn, conflicts)
        add_gpu_rollups(conn, gpu_rollup(pieces))
        add_token_rollups(conn, token_rollup(tokens))
        record_fleet(conn, pieces, dict(gpu), status)
        count += len(chunk)
    return count


def rebuild_contracts(conn: Connection) -> int:
    """Refill `contracts` by folding every contract stream."""
    count = 0
    for tenant_id, tz in tenants.zones(conn):
        for state in contract_states(conn, tenant_id):
            conn.execute(
                text("""INSERT INTO contracts (id, tenant_id, currency, version, state)
                        VALUES (:id, :t, :c, :v, CAST(:s AS jsonb))"""),
                {
                    "id": state.id,
                    "t": tenant_id,
                    "c": state.currency,
                    "v": state.version,
                    "s": _json(projection_state(state, tz)),
                },
            )
            count += 1
    for supplier_id, tz in conn.execute(text("SELECT id, timezone FROM suppliers")).all():
        for state in contract_states(conn, supplier_id, party="supplier_id"):
            conn.execute(
                text("""INSERT INTO contracts (id, tenant_id, supplier_id, currency, version, state)
                        VALUES (:id, NULL, :s, :c, :v, CAST(:st AS jsonb))"""),
                {
                    "id": state.id,
                    "s": supplier_id,
                    "c": state.currency,
                    "v": state.version,
                    "st": _json(projection_state(state, tz)),
                },
            )
            count += 1
    return count


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


def _rebuild_all(conn: Connection) -> dict[str, int]:
    return {
        "usage events": rebuild_usage(conn),
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


def rebuild_in_place(engine: Engine) -> dict[str, int]:
    """Empty every projection and rebuild it from the events, in one transaction (ingest waits)."""
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": INGEST_FENCE})
        conn.execute(
            text("LOCK TABLE contracts, balances, suppliers, market_rents, contracts_at_risk IN EXCLUSIVE MODE")
        )
        for table in PROJECTIONS:
            conn.execute(text(f"DELETE FROM {table}"))
        return _rebuild_all(conn)


# --- verifying ------------------------------------------------------------------------------------


def verify_all(engine: Engine) -> list[str]:
    """Every difference between the stored state and a replay from the events; [] when identical."""
    schema = f"kashi_replay_{uuid.uuid4().hex[:12]}"
    with engine.connect() as conn, conn.begin() as transaction:
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        conn.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": INGEST_FENCE})
        conn.execute(text(f"CREATE SCHEMA {schema}"))
        for table in PROJECTIONS:
            conn.execute(text(f"CREATE TABLE {schema}.{table} (LIKE public.{table} INCLUDING ALL)"))
        conn.execute(text(f"SET LOCAL search_path = {schema}, public"))
        _rebuild_all(conn)
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
    """Re-assemble every close from its stored inputs and compare with its stored invoices."""
    closes = conn.execute(text("SELECT * FROM period_closes ORDER BY close_seq")).all()
    differences: list[str] = []
    for close in closes:
        inputs = close.inputs
        tz = inputs["timezone"]
        assembled = assemble(
            conn,
            close.tenant_id,
            Period.parse(close.period),
            tz,
            close.watermark,
            contract_versions=inputs["contract_versions"],
            adjusted=inputs["adjusted"],
            before_seq=close.close_seq,
            sla_lit=inputs.get("sla_lit", {}),
        )
        stored = {
            row.currency: row
            for row in conn.execute(text("SELECT * FROM invoices WHERE close_seq = :s"), {"s": close.close_seq})
        }
        replayed = {draft.currency: draft for draft in assembled.drafts}
        where = f"{close.tenant_id} {close.period}"
        for currency in sorted(set(stored) | set(replayed)):
            invoice, draft = stored.get(currency), replayed.get(currency)
            if invoice is None or draft is None:
                differences.append(f"invoice {where} {currency}: {'stored' if invoice else 'replayed'} only")
                continue
            differences += _compare_invoice(conn, invoice, draft, tz)
    return differences


def _compare_invoice(conn: Connection, invoice: Any, draft: Any, tz: str) -> list[str]:
    found = []
    label = f"invoice {invoice.number}"
    for field in ("subtotal", "tax", "total"):
        if getattr(invoice, field) != getattr(draft, field):
            found.append(f"{label}: {field} stored {getattr(invoice, field)} replayed {getattr(draft, field)}")
    stored_lines = (
        conn.execute(text("SELECT * FROM invoice_lines WHERE invoice_id = :i ORDER BY position"), {"i": invoice.id})
        .mappings()
        .all()
    )
    replayed = [line_row(invoice.id, n, line, draft.period, tz) for n, line in enumerate(draft.lines, 1)]
    by_position = defaultdict(dict)
    for row in stored_lines:
        by_position[row["position"]]["stored"] = dict(row)
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
