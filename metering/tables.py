"""The usage log and what is projected from it (SPEC §2, §3).

``usage_events`` is the log: one row per ``(source, id)``, with ``seq`` giving every persisted
event a monotonically increasing position. ``gpu_coverage`` keeps what each GPU event newly
contributed (disjoint per GPU); rollups and conflicts are projections that ``kashi replay``
rebuilds from the log.
"""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    SmallInteger,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from kashi.db import metadata

usage_events = Table(
    "usage_events",
    metadata,
    Column("source", Text, primary_key=True),
    Column("id", Text, primary_key=True),
    Column("seq", BigInteger, Identity(always=False), nullable=False, unique=True),
    Column("type", Text, nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("contract_id", Text),
    Column("event_time", DateTime(timezone=True), nullable=False),
    Column("batch_id", Text, nullable=False),
    Column("persisted_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("data", JSONB, nullable=False),
    Index("ix_usage_events_tenant_time", "tenant_id", "event_time"),
)

gpu_coverage = Table(
    "gpu_coverage",
    metadata,
    Column("gpu", Text, nullable=False),
    Column("start_s", BigInteger, nullable=False),
    Column("end_s", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("contract_id", Text),
    Column("gpu_model", Text, nullable=False),
    Index("ix_gpu_coverage_gpu_start", "gpu", "start_s"),
    Index("ix_gpu_coverage_tenant_start", "tenant_id", "start_s"),
    Index("ix_gpu_coverage_seq", "seq"),
)

usage_conflicts = Table(
    "usage_conflicts",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("gpu", Text, nullable=False),
    Column("start_s", BigInteger, nullable=False),
    Column("end_s", BigInteger, nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("holder_tenant_id", Text, nullable=False),
)

gpu_hourly = Table(
    "gpu_hourly",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("contract_id", Text, primary_key=True),
    Column("gpu_model", Text, primary_key=True),
    Column("hour", BigInteger, primary_key=True),
    Column("card_seconds", BigInteger, nullable=False),
    Index("ix_gpu_hourly_tenant_hour", "tenant_id", "hour"),
)

token_hourly = Table(
    "token_hourly",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("contract_id", Text, primary_key=True),
    Column("model", Text, primary_key=True),
    Column("kind", Text, primary_key=True),
    Column("hour", BigInteger, primary_key=True),
    Column("tokens", BigInteger, nullable=False),
    Index("ix_token_hourly_tenant_hour", "tenant_id", "hour"),
)

ingest_batches = Table(
    "ingest_batches",
    metadata,
    Column("batch_id", Text, primary_key=True),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("events", Integer, nullable=False),
    Column("persisted", Integer, nullable=False, server_default=text("0")),
    Column("first_seen", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("last_seen", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("payload", JSONB),
    Column("error", Text),
    Column("key_id", Text),
    Column("accepted_at", DateTime(timezone=True)),
    Column("recorded_at", DateTime(timezone=True)),
    Column("new_events", Integer),
)

replay_checkpoints = Table(
    "replay_checkpoints",
    metadata,
    Column("id", SmallInteger, primary_key=True),
    Column("upto", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("events", BigInteger, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    CheckConstraint("id = 1", name="singleton"),
)
"""One row while an in-place rebuild of the usage projections is unfinished: the log's top seq when
it started (``upto``) and the seq replayed so far, committed with each chunk (``kashi replay``)."""
