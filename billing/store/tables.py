"""Billing projections and documents. Contract states are projections of their streams in
``stream_events`` (``contract:<id>``); the ``contracts`` row is rebuilt by folding that stream."""

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from kashi.db import metadata

contracts = Table(
    "contracts",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tenant_id", Text),
    Column("currency", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("state", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("supplier_id", Text),
    Index("ix_contracts_tenant", "tenant_id"),
)
"""`tenant_id` for a contract we bill, `supplier_id` for capacity bought (payable, SPEC §17)."""

# --- Month close, invoices, credit notes, payments (SPEC §7, §8) -------------------------------
# Issued documents are immutable: migration 0003 puts triggers refusing UPDATE, DELETE and
# TRUNCATE on period_closes, invoices, invoice_lines, credit_notes and payments.

period_closes = Table(
    "period_closes",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("period", Text, primary_key=True),
    Column("close_seq", BigInteger, Identity(always=False), nullable=False, unique=True),
    Column("closed_at", DateTime(timezone=True), nullable=False),
    Column("watermark", BigInteger, nullable=False),
    Column("inputs", JSONB, nullable=False),
    Column("invoice_ids", JSONB, nullable=False),
)
"""One row per closed (tenant, period). `watermark`: every usage event with seq ≤ it was persisted
before the close; `inputs`: the contract versions and adjusted periods the invoices were built from."""

invoices = Table(
    "invoices",
    metadata,
    Column("id", Text, primary_key=True),
    Column("number", Text, nullable=False, unique=True),
    Column("tenant_id", Text, nullable=False),
    Column("period", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("subtotal", Numeric(20, 2), nullable=False),
    Column("tax", Numeric(20, 2), nullable=False),
    Column("total", Numeric(20, 2), nullable=False),
    Column("close_seq", BigInteger, nullable=False),
    UniqueConstraint("tenant_id", "period", "currency", name="uq_invoices_tenant_period_currency"),
    Index("ix_invoices_period", "period"),
)

invoice_lines = Table(
    "invoice_lines",
    metadata,
    Column("invoice_id", Text, ForeignKey("invoices.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("contract_id", Text, nullable=False),
    Column("item_id", Text),
    Column("description", Text, nullable=False),
    Column("quantity", Numeric, nullable=False),
    Column("unit", Text, nullable=False),
    Column("unit_price", Numeric, nullable=False),
    Column("amount", Numeric(20, 2), nullable=False),
    Column("tax_rate", Numeric, nullable=False),
    Column("tax", Numeric(20, 2), nullable=False),
    Column("period_start", DateTime(timezone=True), nullable=False),
    Column("period_end", DateTime(timezone=True), nullable=False),
    Column("charged_period", Text, nullable=False),
)
"""`charged_period`: the period a line charges for: the invoice's own, or for an adjustment the
earlier period it corrects (its label, SPEC §7)."""

credit_notes = Table(
    "credit_notes",
    metadata,
    Column("id", Text, primary_key=True),
    Column("number", Text, nullable=False, unique=True),
    Column("invoice_id", Text, ForeignKey("invoices.id"), nullable=False, index=True),
    Column("tenant_id", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("amount", Numeric(20, 2), nullable=False),
    Column("reason", Text, nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
)

payments = Table(
    "payments",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("reference", Text, nullable=False),
    Column("amount", Numeric(20, 2), nullable=False),
    Column("currency", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    UniqueConstraint("tenant_id", "reference", name="uq_payments_tenant_reference"),
)

document_counters = Table(
    "document_counters",
    metadata,
    Column("series", Text, primary_key=True),
    Column("currency", Text, primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("last", Integer, nullable=False),
)
"""The last number issued per series ("KS" invoices, "KC" credit notes), currency and year; the
row is updated inside the issuing transaction, so a rolled-back issue leaves no gap."""

balances = Table(
    "balances",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("currency", Text, primary_key=True),
    Column("invoiced", Numeric(20, 2), nullable=False),
    Column("credited", Numeric(20, 2), nullable=False),
    Column("paid", Numeric(20, 2), nullable=False),
)
"""A projection: balance = invoiced − credited − paid (SPEC §8); `kashi replay` rebuilds it."""

# --- Market rents, breach risk, suppliers and their bills (SPEC §16, §17) -----------------------

market_rents = Table(
    "market_rents",
    metadata,
    Column("gpu_model", Text, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("unit", Text, nullable=False),
    Column("price", Numeric, nullable=False),
    Column("currency", Text, nullable=False),
    Column("cards_per_machine", Integer, nullable=False),
    Column("observed_at", DateTime(timezone=True), nullable=False),
    Column("source", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)
"""A projection of the `market:<gpu_model>` streams: one row per observation (its stream version)."""

contracts_at_risk = Table(
    "contracts_at_risk",
    metadata,
    Column("contract_id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("since", DateTime(timezone=True), nullable=False),
    Column("saving", Numeric(20, 2), nullable=False),
    Column("currency", Text, nullable=False),
)
"""A projection of the `risk:<contract id>` streams: the contracts whose last event is ContractAtRisk."""

suppliers = Table(
    "suppliers",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("legal_name", Text),
    Column("tax_id", Text),
    Column("currency", Text, nullable=False),
    Column("timezone", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

supplier_period_closes = Table(
    "supplier_period_closes",
    metadata,
    Column("supplier_id", Text, primary_key=True),
    Column("period", Text, primary_key=True),
    Column("close_seq", BigInteger, Identity(always=False), nullable=False, unique=True),
    Column("closed_at", DateTime(timezone=True), nullable=False),
    Column("inputs", JSONB, nullable=False),
    Column("bill_ids", JSONB, nullable=False),
)

supplier_bills = Table(
    "supplier_bills",
    metadata,
    Column("id", Text, primary_key=True),
    Column("number", Text, nullable=False, unique=True),
    Column("supplier_id", Text, nullable=False),
    Column("period", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("subtotal", Numeric(20, 2), nullable=False),
    Column("tax", Numeric(20, 2), nullable=False),
    Column("total", Numeric(20, 2), nullable=False),
    Column("close_seq", BigInteger, nullable=False),
    UniqueConstraint("supplier_id", "period", "currency", name="uq_supplier_bills_supplier_period_currency"),
)
"""What a supplier bills us for a period (numbered "KP-…"); immutable like invoices."""

supplier_bill_lines = Table(
    "supplier_bill_lines",
    metadata,
    Column("bill_id", Text, ForeignKey("supplier_bills.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("contract_id", Text, nullable=False),
    Column("item_id", Text),
    Column("description", Text, nullable=False),
    Column("quantity", Numeric, nullable=False),
    Column("unit", Text, nullable=False),
    Column("unit_price", Numeric, nullable=False),
    Column("amount", Numeric(20, 2), nullable=False),
    Column("tax_rate", Numeric, nullable=False),
    Column("tax", Numeric(20, 2), nullable=False),
    Column("period_start", DateTime(timezone=True), nullable=False),
    Column("period_end", DateTime(timezone=True), nullable=False),
    Column("charged_period", Text, nullable=False),
)
