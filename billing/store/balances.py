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


def add_invoiced(conn: Connection, amounts: list[tuple[str, str, Decimal]]) -> None:
    """Add ``(tenant, currency, invoiced)`` amounts to the balance projection in one batch (rows summed
    per key and written in key order, so concurrent closes never deadlock)."""
    totals: dict[tuple[str, str], Decimal] = {}
    for tenant_id, currency, amount in amounts:
        totals[(tenant_id, currency)] = totals.get((tenant_id, currency), Decimal(0)) + amount
    if totals:
        conn.execute(
            text("""INSERT INTO balances (tenant_id, currency, invoiced, credited, paid) VALUES (:t, :c, :i, 0, 0)
                    ON CONFLICT (tenant_id, currency)
                    DO UPDATE SET invoiced = balances.invoiced + EXCLUDED.invoiced"""),
            [{"t": t, "c": c, "i": totals[(t, c)]} for t, c in sorted(totals)],
        )
