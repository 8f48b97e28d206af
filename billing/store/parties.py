"""`invoice_parties`: the issuer and bill-to profiles, terms and due date each invoice was issued with.
Written once in the issuing transaction; a trigger refuses UPDATE and DELETE."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

Parties = tuple[str, dict | None, dict, int, datetime]
"""(invoice_id, issuer profile or None, bill-to party, payment terms in days, due at)."""


def insert(conn: Connection, rows: list[Parties]) -> None:
    """Store the parties of many invoices in one statement."""
    if not rows:
        return
    conn.execute(
        text("""INSERT INTO invoice_parties (invoice_id, issuer, tenant, payment_terms_days, due_at)
                VALUES (:i, CAST(:issuer AS jsonb), CAST(:tenant AS jsonb), :terms, :due)"""),
        [
            {
                "i": invoice_id,
                "issuer": json.dumps(issuer) if issuer else None,
                "tenant": json.dumps(tenant),
                "terms": terms_days,
                "due": due_at,
            }
            for invoice_id, issuer, tenant, terms_days, due_at in rows
        ],
    )


def of_invoice(conn: Connection, invoice_id: str) -> Any | None:
    return conn.execute(text("SELECT * FROM invoice_parties WHERE invoice_id = :i"), {"i": invoice_id}).first()
