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

CHUNK = 1_000
"""Tenants whose contracts one read loads."""


def signed_contracts_of(conn: Connection, zones: list[tuple[str, str]]) -> dict[str, list[SignedContract]]:
    """Each of the ``(tenant, timezone)``'s contracts with their running span and the instant each was
    recorded, in two queries for all of them (tenants without contracts are absent)."""
    ids = [tenant for tenant, _ in zones]
    recorded = contract_streams.recorded_at_of(conn, ids)
    states = contract_streams.contract_states_of(conn, ids)
    zone = dict(zones)
    return {
        tenant: [
            SignedContract(state.id, state.terms.start, fees_end(state, zone[tenant]), recorded[tenant][state.id])
            for state in tenant_states
            if state.id in recorded.get(tenant, {})
        ]
        for tenant, tenant_states in states.items()
    }


def backdated_contracts_of(
    conn: Connection, due: list[tuple[str, str, Period]], grace: timedelta
) -> dict[str, list[str]]:
    """For ``(tenant, timezone, period)`` triples: the ids of each tenant's contracts in force in its
    `period` recorded after it was due (the scheduler leaves those periods to the operator); tenants
    with none are absent. One read for all of them."""
    contracts = signed_contracts_of(conn, [(tenant, tz) for tenant, tz, _ in due])
    found = {}
    for tenant, tz, period in due:
        late = [c.contract_id for c in backdated(contracts.get(tenant, []), period, tz, grace)]
        if late:
            found[tenant] = late
    return found


def pending_periods(conn: Connection, now: datetime, grace: timedelta, tenant_id: str | None = None) -> list[dict]:
    """``GET /v1/periods/pending``: every ended, unclosed period with a contract in force that the
    scheduler will not close on its own (backdated contracts, or older than the latest due period)."""
    items = []
    every = tenants.zones(conn, None if tenant_id is None else [tenant_id])
    for n in range(0, len(every), CHUNK):  # three reads per thousand tenants
        zones = every[n : n + CHUNK]
        signed = signed_contracts_of(conn, zones)
        closed = closes.closed_periods_of(conn, [tenant for tenant, _ in zones])
        for tenant, tz in zones:
            for waiting in waiting_periods(signed.get(tenant, []), closed.get(tenant, []), now, tz, grace):
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
