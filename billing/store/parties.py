"""`invoice_parties`: the issuer and bill-to profiles, terms and due date each invoice was issued with.
Written once in the issuing transaction; a trigger refuses UPDATE and DELETE."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text


def insert(
    conn: Connection, invoice_id: str, issuer: dict | None, tenant: dict, terms_days: int, due_at: datetime
) -> None:
    conn.execute(
        text("""INSERT INTO invoice_parties (invoice_id, issuer, tenant, payment_terms_days, due_at)
                VALUES (:i, CAST(:issuer AS jsonb), CAST(:tenant AS jsonb), :terms, :due)"""),
        {
            "i": invoice_id,
            "issuer": json.dumps(issuer) if issuer else None,
            "tenant": json.dumps(tenant),
            "terms": terms_days,
            "due": due_at,
        },
    )


def of_invoice(conn: Connection, invoice_id: str) -> Any | None:
    return conn.execute(text("SELECT * FROM invoice_parties WHERE invoice_id = :i"), {"i": invoice_id}).first()
