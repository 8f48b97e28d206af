"""Service: periods that wait for the operator, and the scheduler's question "may I close this?".

The rule is pure (`billing.core.backdating`); this module loads each tenant's contracts, when they
were recorded and which periods are closed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection

from billing.core.backdating import SignedContract, backdated, due_at, waiting_periods
from billing.core.periods import Period, instant_to_json
from billing.core.terms import fees_end
from billing.store import closes, contract_streams, tenants


def signed_contracts(conn: Connection, tenant_id: str, tz: str) -> list[SignedContract]:
    """The tenant's contracts with their running span and the instant each was recorded."""
    recorded = contract_streams.recorded_at(conn, tenant_id)
    return [
        SignedContract(state.id, state.terms.start, fees_end(state, tz), recorded[state.id])
        for state in contract_streams.contract_states(conn, tenant_id)
        if state.id in recorded
    ]


def backdated_contracts(conn: Connection, tenant_id: str, period: Period, tz: str, grace: timedelta) -> list[str]:
    """Ids of the tenant's contracts in force in `period` recorded after it was due: if any, the
    scheduler leaves `period` to the operator."""
    return [c.contract_id for c in backdated(signed_contracts(conn, tenant_id, tz), period, tz, grace)]


def pending_periods(conn: Connection, now: datetime, grace: timedelta, tenant_id: str | None = None) -> list[dict]:
    """``GET /v1/periods/pending``: every ended, unclosed period with a contract in force that the
    scheduler will not close on its own (backdated contracts, or older than the latest due period)."""
    items = []
    for tenant, tz in tenants.zones(conn, None if tenant_id is None else [tenant_id]):
        contracts = signed_contracts(conn, tenant, tz)
        for waiting in waiting_periods(contracts, closes.closed_periods(conn, tenant), now, tz, grace):
            items.append(
                {
                    "tenant_id": tenant,
                    "period": str(waiting.period),
                    "reason": waiting.reason,
                    "why": waiting.why,
                    "contract_ids": list(waiting.contract_ids),
                    "due_at": instant_to_json(due_at(waiting.period, tz, grace)),
                }
            )
    return items
