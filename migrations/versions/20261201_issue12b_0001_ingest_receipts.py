"""ingest receipts: who sent a batch, when it was acknowledged and recorded, what it added

Revision ID: issue12b_0001
Revises: issue15_0001

The receipt of a queued batch lives in Valkey with the enqueue (durable with the same WAITAOF);
a worker projects it here in the transaction that records the batch.
"""

import sqlalchemy as sa
from alembic import op

revision = "issue12b_0001"
down_revision = "issue15_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ingest_batches", sa.Column("key_id", sa.Text(), nullable=True))
    op.add_column("ingest_batches", sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("ingest_batches", sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("ingest_batches", sa.Column("new_events", sa.Integer(), nullable=True))


def downgrade() -> None:
    for column in ("new_events", "recorded_at", "accepted_at", "key_id"):
        op.drop_column("ingest_batches", column)
