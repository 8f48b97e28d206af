"""rollups by (tenant, hour): a tenant-month of usage reads one index range, whatever the history

Revision ID: issue17_0002
Revises: issue17_0001

The primary keys of `gpu_hourly` and `token_hourly` lead with tenant_id but put the hour last, so a
month of one tenant was the tenant's whole history filtered; these indexes make the hour bounds an
index condition (`metering.usage`).
"""

from alembic import op

revision = "issue17_0002"
down_revision = "issue17_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_gpu_hourly_tenant_hour", "gpu_hourly", ["tenant_id", "hour"])
    op.create_index("ix_token_hourly_tenant_hour", "token_hourly", ["tenant_id", "hour"])


def downgrade() -> None:
    op.drop_index("ix_token_hourly_tenant_hour", table_name="token_hourly")
    op.drop_index("ix_gpu_hourly_tenant_hour", table_name="gpu_hourly")
