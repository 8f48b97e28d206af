"""The ``market_rents`` projection: one row per observation on a ``market:<gpu_model>`` stream (SPEC §16)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from billing.store.tables import market_rents
from kashi.tables import stream_events

STREAM_PREFIX = "market:"


def project(conn: Connection, version: int, data: dict, recorded_at: datetime) -> Any:
    """Insert the observation `data` (a MarketRentObserved event's) at `version`; the row."""
    return conn.execute(
        insert(market_rents)
        .returning(market_rents)
        .values(
            gpu_model=data["gpu_model"],
            version=version,
            unit=data["unit"],
            price=Decimal(data["price"]),
            currency=data["currency"],
            cards_per_machine=data["cards_per_machine"],
            observed_at=datetime.fromisoformat(data["observed_at"]),
            source=data["source"],
            recorded_at=recorded_at,
        )
    ).one()


def listing(conn: Connection, gpu_model: str | None) -> list[Any]:
    """Observations by model, newest observation first."""
    query = select(market_rents).order_by(
        market_rents.c.gpu_model, market_rents.c.observed_at.desc(), market_rents.c.version.desc()
    )
    if gpu_model is not None:
        query = query.where(market_rents.c.gpu_model == gpu_model)
    return conn.execute(query).all()


def in_recording_order(conn: Connection) -> list[Any]:
    return conn.execute(select(market_rents).order_by(market_rents.c.recorded_at, market_rents.c.version)).all()


def rebuild(conn: Connection) -> int:
    """Refill the projection from the ``market:*`` streams."""
    conn.execute(delete(market_rents))
    rows = conn.execute(
        select(stream_events)
        .where(stream_events.c.stream_id.startswith(STREAM_PREFIX))
        .order_by(stream_events.c.stream_id, stream_events.c.version)
    ).all()
    for row in rows:
        project(conn, row.version, row.data, row.recorded_at)
    return len(rows)
