"""billing profiles, invoice parties, fapiao records, payment allocation target, webhooks

Revision ID: issue13_0001
Revises: 0003

- `tenant_profiles`: projection of `TenantProfileChanged` events on each `tenant:<id>` stream;
- `invoice_parties`: the issuer and tenant profiles an invoice was issued with, and its due date,
  written in the issuing transaction and never changed (issued documents keep them);
- `fapiao`: projection of `FapiaoRecorded` events on `invoice:<id>` streams;
- `payments.invoice_id`: the invoice a payment names (NULL: oldest unpaid first);
- `webhook_endpoints`: projection of `webhook:<id>` streams; `webhook_events`: the outbox, written in
  the transaction of the change it reports, append-only; `webhook_deliveries`: one row per (event,
  endpoint) with its delivery state; `webhook_attempts`: the append-only log of every attempt.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "issue13_0001"
down_revision = "issue16_0001"
branch_labels = None
depends_on = None

TRIGGER = """
CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE OR TRUNCATE ON {table}
FOR EACH STATEMENT EXECUTE FUNCTION kashi_append_only();
"""
IMMUTABLE = ("invoice_parties", "webhook_events", "webhook_attempts")
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tenant_profiles",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("legal_name", sa.Text()),
        sa.Column("tax_id", sa.Text()),
        sa.Column("address", sa.Text()),
        sa.Column("billing_email", sa.Text()),
        sa.Column("payment_terms_days", sa.Integer(), nullable=False, server_default="30"),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenant_profiles")),
    )
    op.execute("INSERT INTO tenant_profiles (tenant_id) SELECT id FROM tenants")
    op.create_table(
        "invoice_parties",
        sa.Column("invoice_id", sa.Text(), nullable=False),
        sa.Column("issuer", postgresql.JSONB(astext_type=sa.Text())),
        sa.Column("tenant", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("payment_terms_days", sa.Integer(), nullable=False),
        sa.Column("due_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], name=op.f("fk_invoice_parties_invoice_id_invoices")),
        sa.PrimaryKeyConstraint("invoice_id", name=op.f("pk_invoice_parties")),
    )
    op.create_table(
        "fapiao",
        sa.Column("number", sa.Text(), nullable=False),
        sa.Column("invoice_id", sa.Text(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("recorded_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_fapiao")),
    )
    op.create_index("ix_fapiao_invoice_id", "fapiao", ["invoice_id"])
    op.add_column("payments", sa.Column("invoice_id", sa.Text()))
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("deleted_at", TZ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.text("now()")),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint("seq", name=op.f("uq_webhook_events_seq")),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("endpoint_id", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.text("now()")),
        sa.Column("next_attempt_at", TZ, nullable=False, server_default=sa.text("now()")),
        sa.Column("last_attempt_at", TZ),
        sa.Column("last_status_code", sa.Integer()),
        sa.Column("last_error", sa.Text()),
        sa.Column("delivered_at", TZ),
        sa.ForeignKeyConstraint(["event_id"], ["webhook_events.id"],
                                name=op.f("fk_webhook_deliveries_event_id_webhook_events")),
        sa.PrimaryKeyConstraint("event_id", "endpoint_id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_webhook_deliveries_endpoint", "webhook_deliveries", ["endpoint_id", "created_at"])
    op.create_table(
        "webhook_attempts",
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("endpoint_id", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", TZ, nullable=False, server_default=sa.text("now()")),
        sa.Column("status_code", sa.Integer()),
        sa.Column("error", sa.Text()),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "endpoint_id", "attempt", name=op.f("pk_webhook_attempts")),
    )
    for table in IMMUTABLE:
        op.execute(TRIGGER.format(table=table))


def downgrade() -> None:
    for table in IMMUTABLE:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_immutable ON {table}")
    for table in ("webhook_attempts", "webhook_deliveries", "webhook_events", "webhook_endpoints", "fapiao",
                  "invoice_parties", "tenant_profiles"):
        op.drop_table(table)
    op.drop_column("payments", "invoice_id")
