"""the fleet: status coverage, per-GPU-hour and per-node-hour status rollups, tenant availability
rollups, per-model-hour (sharded by node) rollups, the GPU registry and catalog list prices (SPEC §15)

Revision ID: issue15_0001
Revises: 0003

Every table here is a projection of the usage log (``gpu.status`` and ``gpu.usage``) or of event
streams (``fleet:<gpu>`` retirements, ``catalog`` prices); ``kashi replay`` rebuilds them.
"""

import sqlalchemy as sa
from alembic import op

revision = "issue15_0001"
down_revision = "issue13_0001"
branch_labels = None
depends_on = None


def _seconds(name: str) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")


def upgrade() -> None:
    op.create_table(
        "gpu_status_coverage",
        sa.Column("gpu", sa.Text(), nullable=False),
        sa.Column("start_s", sa.BigInteger(), nullable=False),
        sa.Column("end_s", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("gpu", "start_s", name=op.f("pk_gpu_status_coverage")),
    )
    op.create_table(
        "gpu_status_hourly",
        sa.Column("gpu", sa.Text(), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        _seconds("reported_s"), _seconds("down_s"), _seconds("allocated_s"),
        sa.Column("busy_s", sa.Numeric(), nullable=False, server_default="0"),
        sa.Column("status_busy_s", sa.Numeric(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("gpu", "hour", name=op.f("pk_gpu_status_hourly")),
    )
    op.create_table(
        "fleet_hourly",
        sa.Column("node", sa.Text(), nullable=False),
        sa.Column("gpu_model", sa.Text(), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        _seconds("reported_s"), _seconds("down_s"), _seconds("allocated_s"),
        sa.Column("busy_s", sa.Numeric(), nullable=False, server_default="0"),
        sa.Column("status_busy_s", sa.Numeric(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("node", "gpu_model", "hour", name=op.f("pk_fleet_hourly")),
    )
    op.create_index("ix_fleet_hourly_hour", "fleet_hourly", ["hour"])
    op.create_table(
        "fleet_model_hourly",
        sa.Column("gpu_model", sa.Text(), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        _seconds("reported_s"), _seconds("down_s"), _seconds("allocated_s"),
        sa.Column("busy_s", sa.Numeric(), nullable=False, server_default="0"),
        sa.Column("status_busy_s", sa.Numeric(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("hour", "gpu_model", "shard", name=op.f("pk_fleet_model_hourly")),
    )
    op.create_table(
        "tenant_fleet_hourly",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("contract_id", sa.Text(), nullable=False),
        sa.Column("gpu_model", sa.Text(), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        _seconds("allocated_s"), _seconds("lit_allocated_s"),
        sa.Column("busy_s", sa.Numeric(), nullable=False, server_default="0"),
        sa.Column("last_seq", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("tenant_id", "contract_id", "gpu_model", "hour", name=op.f("pk_tenant_fleet_hourly")),
    )
    op.create_table(
        "fleet_gpus",
        sa.Column("gpu", sa.Text(), nullable=False),
        sa.Column("node", sa.Text(), nullable=False),
        sa.Column("gpu_model", sa.Text(), nullable=False),
        sa.Column("first_seen_s", sa.BigInteger(), nullable=False),
        sa.Column("last_state", sa.Text(), nullable=False),
        sa.Column("last_reason", sa.Text()),
        sa.Column("last_start_s", sa.BigInteger(), nullable=False),
        sa.Column("last_end_s", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("gpu", name=op.f("pk_fleet_gpus")),
    )
    op.create_table(
        "gpu_model_prices",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("list_price_per_card_hour", sa.Numeric(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_gpu_model_prices")),
    )


def downgrade() -> None:
    for table in ("gpu_model_prices", "fleet_gpus", "tenant_fleet_hourly", "fleet_model_hourly", "fleet_hourly", "gpu_status_hourly",
                  "gpu_status_coverage"):
        op.drop_table(table)
