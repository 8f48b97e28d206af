"""Service: the breach-risk report (SPEC §16) and the crossing of contracts into risk.

`rows(conn, as_of)` folds every tenant contract and asks the pure `billing.core.risk.breach_risk`
for its row, with the market of `as_of` (the latest observation at or before it, per model and
currency) and the catalog's TFLOPS; the penalty in each row is the termination quote itself.

`evaluate(conn, now)` runs when a rent is recorded and daily from the scheduler: a contract at risk
now and not before gets ``ContractAtRisk`` on its stream ``risk:<contract id>`` and a row in the
``contracts_at_risk`` projection, and `notify_at_risk` is called for it once; a contract no longer at
risk gets ``ContractRiskCleared`` and leaves the projection (so a later crossing is news again).
Evaluations are serialised by an advisory lock, so two at once notice a crossing once.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

from billing.core.contract_payload import parse_instant
from billing.core.market import latest
from billing.core.periods import instant_to_json
from billing.core.risk import BreachRisk, breach_risk, sort_rows
from billing.services import catalog as catalog_service
from billing.services import market
from billing.store import outbox
from billing.store import risk as store
from billing.store import tenants as tenant_rows
from billing.store.contract_streams import contract_states
from kashi import streams

log = logging.getLogger(__name__)
AT_RISK_EVENT = "contract.at_risk"
"""The webhook event type a crossing into risk is announced as (SPEC §13)."""
_LOCK = int.from_bytes(hashlib.blake2b(b"breach-risk", digest_size=8).digest(), "big", signed=True)

COLUMNS = (
    "contract_id",
    "tenant_id",
    "currency",
    "term",
    "closed_end",
    "rmv",
    "remaining_closed_value",
    "market_value",
    "drop",
    "penalty",
    "saving_if_broken",
    "break_even_rate",
    "at_risk",
    "notice_cost",
    "missing_market",
    "note",
)
"""The report's columns, in the order of its CSV and xlsx."""


def rows(conn: Connection, as_of: datetime) -> list[BreachRisk]:
    """Every running tenant contract's row at `as_of`, largest saving first."""
    rents = market.observations(conn)
    tflops = catalog_service.catalog(conn).tflops
    found = []
    for tenant_id, tz in tenant_rows.zones(conn):
        for state in contract_states(conn, tenant_id):

            def market_of(model, currency=state.currency):
                return latest(rents, model, currency, as_of)

            row = breach_risk(state, as_of, tz, market_of, tflops)
            if row is not None:
                found.append(row)
    return sort_rows(found)


def parse_as_of(value: str | None, now: datetime | None = None) -> datetime:
    """`as_of` from the query string (RFC 3339, or a date as midnight UTC+8); now when absent."""
    if value is None:
        return now or datetime.now(UTC)
    return parse_instant(value, field="as_of", tz="Asia/Shanghai")


def report_json(conn: Connection, as_of: datetime) -> dict[str, Any]:
    """GET /v1/reports/breach-risk as JSON: `{"as_of", "items": [rows], "at_risk", "saving_at_risk"}`."""
    found = rows(conn, as_of)
    at_risk = [row for row in found if row.at_risk]
    savings: dict[str, Decimal] = {}
    for row in at_risk:
        savings[row.currency] = savings.get(row.currency, Decimal("0.00")) + row.saving_if_broken
    return {
        "as_of": instant_to_json(as_of),
        "items": [row.to_json() for row in found],
        "at_risk": len(at_risk),
        "saving_at_risk": {currency: format(amount, "f") for currency, amount in sorted(savings.items())},
        "next_cursor": None,
    }


def table(document: dict[str, Any]) -> list[list[Any]]:
    """The report's rows as cells in COLUMNS order (for CSV and xlsx)."""
    cells = []
    for item in document["items"]:
        cells.append(
            [
                (
                    "; ".join(item[c])
                    if isinstance(item[c], list)
                    else ("yes" if item[c] else "no")
                    if isinstance(item[c], bool)
                    else item[c]
                )
                for c in COLUMNS
            ]
        )
    return cells


def notify_at_risk(conn: Connection, row: dict[str, Any]) -> None:
    """Announce that `row`'s contract has just crossed into risk: the one place a `contract.at_risk`
    webhook (SPEC §13) leaves from, written to the outbox inside the transaction that recorded the
    crossing (so it is sent if and only if the crossing committed); `data` is the report's row."""
    outbox.emit(conn, AT_RISK_EVENT, row)
    log.info(
        "contract at risk",
        extra={
            "contract_id": row["contract_id"],
            "tenant_id": row["tenant_id"],
            "saving_if_broken": row["saving_if_broken"],
        },
    )


def evaluate(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    """Record every crossing into (and out of) risk at `now`; the rows newly at risk, each notified once."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
    current = {row.contract_id: row for row in rows(conn, now)}
    known = store.known(conn)
    crossed = []
    for contract_id, row in current.items():
        if row.at_risk and contract_id not in known:
            data = {**row.to_json(), "as_of": instant_to_json(now)}
            _append(conn, contract_id, "ContractAtRisk", data)
            store.add(conn, data)
            notify_at_risk(conn, data)
            crossed.append(data)
    for contract_id in sorted(known):
        row = current.get(contract_id)
        if row is None or not row.at_risk:
            _append(
                conn, contract_id, "ContractRiskCleared", {"contract_id": contract_id, "as_of": instant_to_json(now)}
            )
            store.remove(conn, contract_id)
    return crossed


def record_rent(conn: Connection, payload: object, *, actor: str, now: datetime | None = None) -> dict[str, Any]:
    """POST /v1/market/rents: record the observation, then evaluate breach risk at `now` in the same
    transaction; the observation with `at_risk`, the contracts that crossed into risk with it."""
    rent = market.record(conn, payload, actor=actor)
    crossed = evaluate(conn, now or datetime.now(UTC))
    return {**rent, "at_risk": [row["contract_id"] for row in crossed]}


def _append(conn: Connection, contract_id: str, kind: str, data: dict) -> None:
    stream = store.stream_of(contract_id)
    streams.append(conn, stream, streams.current_version(conn, stream), [(kind, data)], "system:breach-risk")


def at_risk(conn: Connection) -> list[dict[str, Any]]:
    """The contracts at risk as last evaluated: `{"contract_id", "tenant_id", "since", "saving", "currency"}`."""
    return [
        {
            "contract_id": r.contract_id,
            "tenant_id": r.tenant_id,
            "since": instant_to_json(r.since),
            "saving_if_broken": format(r.saving, "f"),
            "currency": r.currency,
        }
        for r in store.listing(conn)
    ]


def rebuild_projection(conn: Connection) -> int:
    """Refill ``contracts_at_risk`` from the ``risk:*`` streams: those whose last event is ContractAtRisk."""
    return store.rebuild(conn)
