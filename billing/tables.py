"""Billing projections and documents. Contract states are projections of their streams in
``stream_events`` (``contract:<id>``); the ``contracts`` row is rebuilt by folding that stream."""

from sqlalchemy import Column, DateTime, Index, Integer, Table, Text, text
from sqlalchemy.dialects.postgresql import JSONB

from kashi.db import metadata

contracts = Table(
    "contracts", metadata,
    Column("id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("state", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Index("ix_contracts_tenant", "tenant_id"),
)
