"""The ``contracts_at_risk`` projection of the ``risk:<contract id>`` streams (SPEC §16): a contract is in
it while the last event of its stream is ContractAtRisk."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, delete, insert, select, text

from billing.store.tables import contracts_at_risk

STREAM_PREFIX = "risk:"


def stream_of(contract_id: str) -> str:
    return STREAM_PREFIX + contract_id


def known(conn: Connection) -> set[str]:
    return set(conn.execute(select(contracts_at_risk.c.contract_id)).scalars())


def add(conn: Connection, data: dict) -> None:
    """Project a ContractAtRisk event's `data` (a breach-risk row with its `as_of`)."""
    conn.execute(
        insert(contracts_at_risk).values(
            contract_id=data["contract_id"],
            tenant_id=data["tenant_id"],
            since=datetime.fromisoformat(data["as_of"]),
            saving=Decimal(data["saving_if_broken"]),
            currency=data["currency"],
        )
    )


def remove(conn: Connection, contract_id: str) -> None:
    conn.execute(delete(contracts_at_risk).where(contracts_at_risk.c.contract_id == contract_id))


def listing(conn: Connection) -> list[Any]:
    return conn.execute(select(contracts_at_risk).order_by(contracts_at_risk.c.saving.desc())).all()


def rebuild(conn: Connection) -> int:
    """Refill the projection from the last event of each ``risk:*`` stream."""
    conn.execute(delete(contracts_at_risk))
    last = conn.execute(
        text("""SELECT DISTINCT ON (stream_id) type, data FROM stream_events WHERE stream_id LIKE :p
                                ORDER BY stream_id, version DESC"""),
        {"p": STREAM_PREFIX + "%"},
    ).all()
    at_risk = [row.data for row in last if row.type == "ContractAtRisk"]
    for data in at_risk:
        add(conn, data)
    return len(at_risk)
