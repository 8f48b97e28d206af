"""The usage log and what is projected from it (SPEC §2, §3).

``usage_log`` is the log: one narrow row per ``(source, id)``, with ``seq`` giving every persisted
event a monotonically increasing position (``usage_events``, a view, shows it as the events sent).
``gpu_coverage`` keeps what each GPU event newly contributed (disjoint per GPU, the GPU by its
dictionary number); rollups and conflicts are projections that ``kashi replay``
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

usage_names = Table(
    "usage_names",
    metadata,
    Column("no", Integer, Identity(always=False), primary_key=True),
    Column("name", Text, nullable=False, unique=True),
)
"""The log's dictionary (``metering.names``): sources, tenants, contracts, GPUs, models, nodes, id prefixes."""

usage_batches = Table(
    "usage_batches",
    metadata,
    Column("no", Integer, Identity(always=False), primary_key=True),
    Column("batch_id", Text, nullable=False, unique=True),
    Column("persisted_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
)
"""Each recorded batch once: its queue id and when its events were persisted."""

usage_log = Table(
    "usage_log",
    metadata,
    Column("seq", BigInteger, Identity(always=False), nullable=False),
    Column("event_time", DateTime(timezone=True), nullable=False),
    Column("start_s", BigInteger),
    Column("input_tokens", BigInteger),
    Column("output_tokens", BigInteger),
    Column("cached_tokens", BigInteger),
    Column("source_no", Integer, nullable=False),
    Column("id_prefix_no", Integer, nullable=False),
    Column("tenant_no", Integer, nullable=False),
    Column("batch_no", Integer, nullable=False),
    Column("model_no", Integer),
    Column("gpu_no", Integer),
    Column("node_no", Integer),
    Column("contract_no", Integer),
    Column("span_s", Integer),
    Column("kind", SmallInteger, nullable=False),
    Column("util_pct", SmallInteger),
    Column("id_suffix", Text, nullable=False),
    Column("utilization", Text),
    Column("rest", JSONB),
    Index("ix_usage_log_seq", "seq", postgresql_using="brin", postgresql_with={"pages_per_range": 16}),
    Index("ux_usage_log_key", "source_no", "id_prefix_no", "id_suffix", unique=True),
    Index(
        "ix_usage_log_tokens",
        text("tenant_no"),
        text("kashi_epoch_hour(event_time)"),
        postgresql_where=text("kind = 2"),
    ),
)
"""The log (``metering.log`` describes a row); ``usage_events`` is a view giving each row back as
the event that was sent (source, id, type, tenant_id, contract_id, event_time, batch_id,
persisted_at, data)."""

gpu_coverage = Table(
    "gpu_coverage",
    metadata,
    Column("start_s", BigInteger, nullable=False),
    Column("end_s", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("gpu_no", Integer, nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("contract_id", Text),
    Column("gpu_model", Text, nullable=False),
    Index("ix_gpu_coverage_gpu_start", "gpu_no", "start_s"),
    Index("ix_gpu_coverage_tenant_start", "tenant_id", "start_s"),
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
    Column("hour", BigInteger, primary_key=True),
    Column("input_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
    Column("cached_tokens", BigInteger, nullable=False),
    Column("tenant_id", Text, primary_key=True),
    Column("contract_id", Text, primary_key=True),
    Column("model", Text, primary_key=True),
    Index("ix_token_hourly_tenant_hour", "tenant_id", "hour"),
)
"""Tokens per tenant, contract, model and UTC hour, a column per kind (one upsert row per model-hour)."""

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
