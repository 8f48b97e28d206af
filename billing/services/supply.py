"""Service: the broker's resale rules at the door (SPEC §17), and the supplier side of the close barrier.

`check(conn, state, tz)` runs before a contract event is appended: a tenant contract whose items name
`supplied_by`, or a payable contract whose items are resold, must keep `billing.core.supply`'s rules
(the payable item exists and is in force, the same GPU model, never more cards resold than bought);
a breach is a Conflict (409) and nothing is written. The payable contract's row is locked first, so
two tenants signing at once for the last machines cannot both get them.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import Connection, text

from billing.core.contract_payload import split_supplied_by
from billing.core.contracts import ContractState
from billing.core.periods import Zone
from billing.core.supply import supply_conflicts
from billing.core.terms import ensure_period_open
from billing.services import catalog as catalog_service
from billing.services.close import close_lock_key
from billing.store import contract_streams
from billing.store import supplier_bills as supplier_bill_rows
from billing.store import suppliers as supplier_rows
from billing.store import tenants as tenant_rows
from kashi.errors import Conflict, NotFound


def _state(conn: Connection, contract_id: str) -> ContractState | None:
    try:
        return contract_streams.load(conn, contract_id)
    except NotFound:
        return None


def zone(conn: Connection, state: ContractState) -> str:
    """The timezone a contract's months count in: its supplier's when payable, else its tenant's."""
    if state.terms.payable:
        return supplier_rows.read(conn, state.terms.supplier_id).timezone
    return tenant_rows.zone_of(conn, state.terms.tenant_id)


def resales_of(conn: Connection, reference: str) -> list[tuple[ContractState, str]]:
    """Every tenant contract with an item `supplied_by` `reference` ("<contract>/<item>"), and that item's id."""
    ids = contract_streams.ids_reselling(conn, reference)
    found = []
    for contract_id in ids:
        state = _state(conn, contract_id)
        for item in state.terms.items:
            if getattr(item, "supplied_by", None) == reference:
                found.append((state, item.id))
    return found


def check(conn: Connection, state: ContractState, tz: Zone) -> None:
    """Conflict (409) naming `supplied_by` when `state` (about to be recorded) breaks a resale rule."""
    references: dict[str, list[str]] = defaultdict(list)
    if state.terms.payable:
        for item in state.terms.items:
            references[f"{state.id}/{item.id}"] = []
    else:
        for index, item in enumerate(state.terms.items):
            if getattr(item, "supplied_by", None):
                references[item.supplied_by].append(f"items[{index}].supplied_by")
    tflops = None
    for reference, fields in references.items():
        contract_id, item_id = split_supplied_by(reference)
        if state.terms.payable:
            payable = state
        else:
            conn.execute(text("SELECT 1 FROM contracts WHERE id = :c FOR UPDATE"), {"c": contract_id})
            payable = _state(conn, contract_id)
        resales = [
            (other, item, zone(conn, other)) for other, item in resales_of(conn, reference) if other.id != state.id
        ]
        if not state.terms.payable:
            resales += [
                (state, item.id, tz) for item in state.terms.items if getattr(item, "supplied_by", None) == reference
            ]
        elif not resales:
            continue
        if tflops is None:
            tflops = catalog_service.catalog(conn).tflops
        payable_tz = tz if payable is state else (zone(conn, payable) if payable else tz)
        problems = supply_conflicts(payable, item_id, payable_tz, resales, tflops, fields[0] if fields else "items")
        if problems:
            raise Conflict(problems[0]["reason"], problems)


def assert_supplier_period_open(conn: Connection, supplier_id: str, instant: datetime, tz: Zone) -> None:
    """PeriodAlreadyClosed (409) when a payable contract change would alter a period already billed."""
    conn.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": close_lock_key(f"supplier:{supplier_id}")})
    # (the same key as billing.services.supplier_bills.lock_key: a close in flight finishes first)
    closed = supplier_bill_rows.closed_periods(conn, supplier_id)
    if closed:
        ensure_period_open(instant, tz, closed)
