"""`fapiao`: the fapiao recorded for invoices, a projection of `FapiaoRecorded` events on `invoice:<id>`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, text


def of_invoices(conn: Connection, invoice_ids: list[str]) -> list:
    if not invoice_ids:
        return []
    return conn.execute(
        text("SELECT * FROM fapiao WHERE invoice_id = ANY(:ids) ORDER BY issued_on, number"), {"ids": invoice_ids}
    ).all()


def by_number(conn: Connection, number: str) -> Any | None:
    return conn.execute(text("SELECT * FROM fapiao WHERE number = :n"), {"n": number}).first()


def insert(conn: Connection, invoice_id: str, data: dict[str, str], recorded_at: datetime) -> None:
    conn.execute(
        text("""INSERT INTO fapiao (number, invoice_id, issued_on, kind, recorded_at)
                         VALUES (:n, :i, :d, :k, :at)"""),
        {
            "n": data["number"],
            "i": invoice_id,
            "d": date.fromisoformat(data["issued_on"]),
            "k": data["kind"],
            "at": recorded_at,
        },
    )


def recorded_events(conn: Connection) -> list:
    """Every `FapiaoRecorded` event, in stream order (for a rebuild)."""
    return conn.execute(
        text("""SELECT stream_id, data, recorded_at FROM stream_events
                                WHERE stream_id LIKE 'invoice:%' AND type = 'FapiaoRecorded'
                                ORDER BY stream_id, version""")
    ).all()
