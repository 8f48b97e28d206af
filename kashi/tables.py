"""Tables of the shell: tenants, API keys, the generic event streams, the GPU catalog."""

from sqlalchemy import Column, DateTime, Integer, Numeric, Table, Text, text
from sqlalchemy.dialects.postgresql import JSONB

from kashi.db import metadata

stream_events = Table(
    "stream_events",
    metadata,
    Column("stream_id", Text, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("type", Text, nullable=False),
    Column("data", JSONB, nullable=False),
    Column("actor", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
)
"""Every state change of contracts, tenants and the catalog; ``(stream_id, version)`` is the lock."""

tenants = Table(
    "tenants",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("timezone", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

gpu_models = Table(
    "gpu_models",
    metadata,
    Column("name", Text, primary_key=True),
    Column("fp16_tflops", Numeric, nullable=False),
    Column("source", Text, nullable=False),
)

gpu_model_prices = Table(
    "gpu_model_prices",
    metadata,
    Column("name", Text, primary_key=True),
    Column("list_price_per_card_hour", Numeric, nullable=False),
)
"""List prices per card-hour (CNY) of catalog models, folded from ``GpuModelListPriced`` (SPEC §15)."""

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Text, primary_key=True),
    Column("hash", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("tenant_id", Text),
    Column("source", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("revoked_at", DateTime(timezone=True)),
)
