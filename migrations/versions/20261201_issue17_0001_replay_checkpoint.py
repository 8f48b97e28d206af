"""replay checkpoint: an in-place rebuild commits per chunk and resumes where it stopped

Revision ID: issue17_0001
Revises: issue12b_0001

`kashi replay` (in place) used to rebuild every projection in one transaction. It now commits each
chunk of the log with its progress in `replay_checkpoints` (one row while a rebuild is unfinished):
a rebuild that died resumes from `seq` if nothing was logged since (`upto` is still the log's top),
and starts over otherwise. While the row exists a month close refuses to read a watermark.
"""

import sqlalchemy as sa
from alembic import op

revision = "issue17_0001"
down_revision = "issue12b_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replay_checkpoints",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("upto", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_replay_checkpoints_singleton")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replay_checkpoints")),
    )


def downgrade() -> None:
    op.drop_table("replay_checkpoints")
