"""The balance projection: per tenant and currency, balance = invoiced − credited − paid (SPEC §8)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Connection, text


def add_to_balance(
    conn: Connection,
    tenant_id: str,
    currency: str,
    *,
    invoiced: Decimal = Decimal(0),
    credited: Decimal = Decimal(0),
    paid: Decimal = Decimal(0),
) -> None:
    """Add to the balance projection (balance = invoiced − credited − paid, SPEC §8)."""
    conn.execute(
        text("""INSERT INTO balances (tenant_id, currency, invoiced, credited, paid) VALUES (:t, :c, :i, :cr, :p)
                ON CONFLICT (tenant_id, currency) DO UPDATE SET invoiced = balances.invoiced + EXCLUDED.invoiced,
                  credited = balances.credited + EXCLUDED.credited, paid = balances.paid + EXCLUDED.paid"""),
        {"t": tenant_id, "c": currency, "i": invoiced, "cr": credited, "p": paid},
    )
