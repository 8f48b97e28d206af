"""Service: market rents (SPEC §16), each observation an event on the stream ``market:<gpu_model>``.

Recording a rent appends ``MarketRentObserved`` and projects it into ``market_rents``;
`billing.services.risk.record_rent` does that and, in the same transaction, notes which contracts
crossed into breach risk.
"""

from __future__ import annotations

from datetime import UTC

from sqlalchemy import Connection

from billing.core.contract_payload import parse_instant
from billing.core.market import MarketRent, parse_rent
from billing.core.periods import instant_to_json
from billing.services import catalog as catalog_service
from billing.store import market_rents as store
from kashi import streams


def _event_data(rent: MarketRent) -> dict:
    return {
        "gpu_model": rent.gpu_model,
        "unit": rent.unit,
        "price": str(rent.price),
        "currency": rent.currency,
        "cards_per_machine": rent.cards_per_machine,
        "observed_at": instant_to_json(rent.observed_at),
        "source": rent.source,
    }


def rent_json(row) -> dict:
    return {
        "gpu_model": row.gpu_model,
        "unit": row.unit,
        "price": format(row.price, "f"),
        "currency": row.currency,
        "cards_per_machine": row.cards_per_machine,
        "observed_at": instant_to_json(row.observed_at),
        "source": row.source,
        "recorded_at": instant_to_json(row.recorded_at),
        "version": row.version,
    }


def record(conn: Connection, payload: object, *, actor: str) -> dict:
    """Validate, append, project; the observation as stored."""
    models = list(catalog_service.catalog(conn).models)
    rent = parse_rent(payload, models, lambda value, field: parse_instant(value, field=field, tz="UTC"))
    stream = f"{store.STREAM_PREFIX}{rent.gpu_model}"
    version = streams.current_version(conn, stream)
    stored = streams.append(conn, stream, version, [("MarketRentObserved", _event_data(rent))], actor)[0]
    return rent_json(store.project(conn, stored.version, stored.data, stored.recorded_at))


def list_rents(conn: Connection, gpu_model: str | None = None) -> dict:
    """GET /v1/market/rents?gpu_model=: observations by model, newest observation first."""
    return {"items": [rent_json(row) for row in store.listing(conn, gpu_model)], "next_cursor": None}


def observations(conn: Connection) -> list[MarketRent]:
    """Every observation as a MarketRent, in recording order (the latest of equal instants last)."""
    rows = store.in_recording_order(conn)
    return [
        MarketRent(
            gpu_model=r.gpu_model,
            unit=r.unit,
            price=r.price,
            currency=r.currency,
            observed_at=r.observed_at.astimezone(UTC),
            source=r.source,
            cards_per_machine=r.cards_per_machine,
        )
        for r in rows
    ]


def rebuild_projection(conn: Connection) -> int:
    """Refill ``market_rents`` from the ``market:*`` streams."""
    return store.rebuild(conn)
