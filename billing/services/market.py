"""Service: market rents (SPEC §16), each observation an event on the stream ``market:<gpu_model>``.

Recording a rent appends ``MarketRentObserved`` and projects it into ``market_rents``;
`billing.services.risk.record_rent` does that and, in the same transaction, notes which contracts
crossed into breach risk.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Connection, delete, insert, select

from billing.core.contract_payload import parse_instant
from billing.core.market import MarketRent, parse_rent
from billing.core.periods import instant_to_json
from billing.services import catalog as catalog_service
from billing.store.tables import market_rents
from kashi import streams
from kashi.tables import stream_events


def _event_data(rent: MarketRent) -> dict:
    return {"gpu_model": rent.gpu_model, "unit": rent.unit, "price": str(rent.price), "currency": rent.currency,
            "cards_per_machine": rent.cards_per_machine, "observed_at": instant_to_json(rent.observed_at),
            "source": rent.source}  # fmt: skip


def _project(conn: Connection, version: int, data: dict, recorded_at: datetime) -> None:
    conn.execute(insert(market_rents).values(
        gpu_model=data["gpu_model"], version=version, unit=data["unit"], price=Decimal(data["price"]),
        currency=data["currency"], cards_per_machine=data["cards_per_machine"],
        observed_at=datetime.fromisoformat(data["observed_at"]), source=data["source"], recorded_at=recorded_at))


def rent_json(row) -> dict:
    return {"gpu_model": row.gpu_model, "unit": row.unit, "price": format(row.price, "f"),
            "currency": row.currency, "cards_per_machine": row.cards_per_machine,
            "observed_at": instant_to_json(row.observed_at), "source": row.source,
            "recorded_at": instant_to_json(row.recorded_at), "version": row.version}  # fmt: skip


def record(conn: Connection, payload: object, *, actor: str) -> dict:
    """Validate, append, project; the observation as stored."""
    models = list(catalog_service.catalog(conn).models)
    rent = parse_rent(payload, models, lambda value, field: parse_instant(value, field=field, tz="UTC"))
    stream = f"market:{rent.gpu_model}"
    version = streams.current_version(conn, stream)
    stored = streams.append(conn, stream, version, [("MarketRentObserved", _event_data(rent))], actor)[0]
    _project(conn, stored.version, stored.data, stored.recorded_at)
    row = conn.execute(select(market_rents).where(market_rents.c.gpu_model == rent.gpu_model,
                                                  market_rents.c.version == stored.version)).one()  # fmt: skip
    return rent_json(row)


def list_rents(conn: Connection, gpu_model: str | None = None) -> dict:
    """GET /v1/market/rents?gpu_model=: observations by model, newest observation first."""
    query = select(market_rents).order_by(market_rents.c.gpu_model, market_rents.c.observed_at.desc(),
                                          market_rents.c.version.desc())  # fmt: skip
    if gpu_model is not None:
        query = query.where(market_rents.c.gpu_model == gpu_model)
    return {"items": [rent_json(row) for row in conn.execute(query)], "next_cursor": None}


def observations(conn: Connection) -> list[MarketRent]:
    """Every observation as a MarketRent, in recording order (the latest of equal instants last)."""
    rows = conn.execute(select(market_rents).order_by(market_rents.c.recorded_at, market_rents.c.version)).all()
    return [MarketRent(gpu_model=r.gpu_model, unit=r.unit, price=r.price, currency=r.currency,
                       observed_at=r.observed_at.astimezone(UTC), source=r.source,
                       cards_per_machine=r.cards_per_machine) for r in rows]  # fmt: skip


def rebuild_projection(conn: Connection) -> int:
    """Refill ``market_rents`` from the ``market:*`` streams."""
    conn.execute(delete(market_rents))
    rows = conn.execute(select(stream_events).where(stream_events.c.stream_id.startswith("market:"))
                        .order_by(stream_events.c.stream_id, stream_events.c.version)).all()  # fmt: skip
    for row in rows:
        _project(conn, row.version, row.data, row.recorded_at)
    return len(rows)
