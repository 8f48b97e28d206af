"""Service: contracts as event streams ``contract:<id>`` (SPEC §4, §6, §10).

Each write is a transaction script: load the stream → lock the projection row → decide with the pure
core (``billing.contracts``, ``billing.terms``) → append the event → refresh the ``contracts``
projection → return. ``(stream_id, version)`` is the optimistic lock: a writer whose stream moved on
since it read (or whose ``expected_version`` is stale) gets VersionConflict (409). The row lock also
gives the month close a point to serialise with: a close that locks the tenant's contract rows
``FOR SHARE`` before reading them either sees a termination or makes it fail with period_closed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, delete, insert, select, text, update

from billing.core.contract_json import (
    event_to_json,
    item_to_json,
    stored_event_json,
    stream_of,
    terms_to_json,
)
from billing.core.contract_payload import contract_from_payload, parse_amendment, parse_instant, parse_termination
from billing.core.contracts import ContractAmended, ContractSigned, ContractState, ContractTerminated, apply
from billing.core.lines import ChargeLine
from billing.core.money import round_money, to_json
from billing.core.periods import Period, Zone, instant_to_json, period_of
from billing.core.terms import (
    amendment_penalty_lines,
    closed_end,
    ensure_period_open,
    fees_end,
    rmv,
    term_end,
    termination_quote,
    validate_amendment,
)
from billing.services import catalog as catalog_service
from billing.services import suppliers, supply, tenants
from billing.services.close import close_lock_key
from billing.store.contract_streams import contract_states, every_contract, load
from billing.store.tables import contracts
from kashi import streams
from kashi.errors import Conflict, NotFound, ValidationFailed, VersionConflict

CONTRACT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
"""Contract ids travel in URL paths and stream ids: the tenant id alphabet."""


# --- reading --------------------------------------------------------------------------------------


def tenant_of(conn: Connection, contract_id: str) -> str | None:
    """The tenant a contract belongs to (from the projection), None for a payable contract (it has a
    supplier instead); NotFound when there is no such contract."""
    row = conn.execute(select(contracts.c.tenant_id).where(contracts.c.id == contract_id)).first()
    if row is None:
        raise NotFound(f"contract {contract_id} not found", [{"field": "contract_id", "reason": "not found"}])
    return row.tenant_id


def tenant_states(conn: Connection, tenant_id: str) -> list[ContractState]:
    """Every contract of ``tenant_id`` folded from its stream, by id (the month close reads them the same way)."""
    return contract_states(conn, tenant_id)


def _timezone(conn: Connection, tenant_id: str) -> str:
    return tenants.get(conn, tenant_id)["timezone"]


def zone_of(conn: Connection, terms) -> str:
    """The timezone a contract's months count in: its tenant's, or its supplier's when payable."""
    if terms.payable:
        return suppliers.get(conn, terms.supplier_id)["timezone"]
    return _timezone(conn, terms.tenant_id)


# --- views (JSON) ---------------------------------------------------------------------------------


def status_at(state: ContractState, at: datetime, tz: Zone) -> str:
    """``signed`` (before start), ``closed_term``, ``open_term``, ``terminated`` or ``ended`` at ``at``."""
    if at < state.terms.start:
        return "signed"
    if state.terminated_at is not None and at >= state.terminated_at:
        return "terminated"
    if at >= term_end(state.terms, tz):
        return "ended"
    return "closed_term" if at < closed_end(state.terms, tz) else "open_term"


def contract_view(state: ContractState, tz: Zone, at: datetime) -> dict[str, Any]:
    """The contract as it stands at ``at``: the SPEC §4 shape with the items in force, plus its term."""
    active = state.terms.start <= at < fees_end(state, tz)
    return {
        **terms_to_json(state.terms),
        "items": [item_to_json(item) for item in state.items_at(at)],
        "version": state.version,
        "at": instant_to_json(at),
        "status": status_at(state, at, tz),
        "closed_end": instant_to_json(closed_end(state.terms, tz)),
        "term_end": instant_to_json(term_end(state.terms, tz)),
        "terminated_at": state.terminated_at and instant_to_json(state.terminated_at),
        "notice_given_at": state.notice_given_at and instant_to_json(state.notice_given_at),
        "rmv": to_json(round_money(rmv(state, at) if active else 0)),
    }


def projection_state(state: ContractState, tz: Zone) -> dict[str, Any]:
    """What the ``contracts`` row keeps: the signed terms, the term, and each item's versions."""
    return {
        "terms": terms_to_json(state.terms),
        "closed_end": instant_to_json(closed_end(state.terms, tz)),
        "term_end": instant_to_json(term_end(state.terms, tz)),
        "terminated_at": state.terminated_at and instant_to_json(state.terminated_at),
        "notice_given_at": state.notice_given_at and instant_to_json(state.notice_given_at),
        "timelines": {
            item_id: [
                {"effective_from": instant_to_json(v.effective_from), "item": item_to_json(v.item)} for v in versions
            ]
            for item_id, versions in state.timelines.items()
        },
    }


def lines_json(lines: list[ChargeLine] | tuple[ChargeLine, ...]) -> dict[str, Any]:
    amount = sum((line.amount for line in lines), Decimal("0.00"))
    tax = sum((line.tax for line in lines), Decimal("0.00"))
    return {
        "lines": [line.to_json() for line in lines],
        "amount": to_json(amount),
        "tax": to_json(tax),
        "total": to_json(amount + tax),
    }


def _quote_json(state: ContractState, quote, notice_given_at: datetime | None) -> dict[str, Any]:
    return {
        "contract_id": state.id,
        "currency": state.currency,
        "effective_at": instant_to_json(quote.effective_at),
        "notice_given_at": instant_to_json(notice_given_at or quote.effective_at),
        "closed_end": instant_to_json(quote.closed_end),
        "term_end": instant_to_json(quote.term_end),
        "in_closed_term": quote.in_closed_term,
        "remaining_closed_value": to_json(quote.remaining_closed_value),
        **lines_json(quote.lines),
    }


# --- the month-close hook ---------------------------------------------------------------------------


def _assert_open(conn: Connection, terms, instant: datetime, tz: Zone) -> None:
    """The closed-period check for a contract's own party: its tenant's closes, or its supplier's bills."""
    if terms.payable:
        supply.assert_supplier_period_open(conn, terms.supplier_id, instant, tz)
    else:
        assert_not_in_closed_period(conn, terms.tenant_id, instant, tz)


def assert_not_in_closed_period(conn: Connection, tenant_id: str, instant: datetime, tz: Zone | None = None) -> None:
    """PeriodAlreadyClosed (409) when a change effective at ``instant`` would alter a closed period (SPEC §7).

    Reads ``period_closes`` (tenant_id, period 'YYYY-MM', closed_at) when that table exists; before
    migration 0003 creates it nothing is closed. tz: the tenant's timezone, looked up when None.
    """
    if conn.execute(text("SELECT to_regclass('period_closes')")).scalar() is None:
        return
    # Wait for a close of this tenant in flight, and keep it out until this change commits.
    conn.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": close_lock_key(tenant_id)})
    closed = [
        Period.parse(p)
        for p in conn.execute(text("SELECT period FROM period_closes WHERE tenant_id = :t"), {"t": tenant_id}).scalars()
    ]
    if closed:
        ensure_period_open(instant, tz or _timezone(conn, tenant_id), closed)


# --- writing ----------------------------------------------------------------------------------------


def _project(conn: Connection, state: ContractState, tz: Zone, *, new: bool = False) -> None:
    values = {
        "tenant_id": state.terms.tenant_id,
        "supplier_id": state.terms.supplier_id,
        "currency": state.currency,
        "version": state.version,
        "state": projection_state(state, tz),
        "updated_at": datetime.now(UTC),
    }
    if new:
        conn.execute(insert(contracts).values(id=state.id, **values))
    else:
        conn.execute(update(contracts).where(contracts.c.id == state.id).values(**values))


def _load_for_change(conn: Connection, contract_id: str, expected_version: int | None) -> tuple[ContractState, str]:
    """The contract, its row locked, checked against the version the caller read; and its tenant's tz."""
    state = load(conn, contract_id)
    locked = conn.execute(select(contracts.c.version).where(contracts.c.id == contract_id).with_for_update()).scalar()
    wanted = state.version if expected_version is None else expected_version
    if locked != state.version or wanted != state.version:
        raise VersionConflict(
            f"contract {contract_id} changed concurrently (now at version {locked}, expected {wanted})",
            [{"field": "version", "reason": "another change was recorded first; reload and retry"}],
        )
    return state, zone_of(conn, state.terms)


def sign(conn: Connection, payload: object, *, actor: str, now: datetime | None = None) -> dict[str, Any]:
    """POST /v1/contracts: validate, append ``ContractSigned`` at version 1, project; the contract at ``now``.

    422 naming every bad field (an unknown tenant on ``tenant_id``), 409 when the id is taken.
    """
    if not isinstance(payload, dict):
        raise ValidationFailed.of("body", "must be a JSON object")
    tenant = None
    party_field = "supplier_id" if "supplier_id" in payload else "tenant_id"
    if isinstance(payload.get(party_field), str):
        try:
            lookup = suppliers.get if party_field == "supplier_id" else tenants.get
            tenant = lookup(conn, payload[party_field])
        except NotFound:
            tenant = None
    problems: list[dict[str, str]] = []
    terms = None
    try:
        terms = contract_from_payload(
            payload,
            catalog_service.catalog(conn),
            tenant["timezone"] if tenant else "UTC",
            default_currency=tenant["currency"] if tenant else "CNY",
        )
    except ValidationFailed as error:
        problems.extend(error.details)
    if isinstance(payload.get("id"), str) and not CONTRACT_ID.match(payload["id"]):
        problems.append({"field": "id", "reason": "letters, digits and . _ : - only, at most 128"})
    if tenant is None and isinstance(payload.get(party_field), str):
        what = party_field.removesuffix("_id")
        problems.append({"field": party_field, "reason": f"no {what} {payload[party_field]!r}; create it first"})
    if problems:
        raise ValidationFailed(f"contract has {len(problems)} invalid field(s)", problems)
    stream = stream_of(terms.id)
    if streams.current_version(conn, stream):
        raise Conflict(f"contract {terms.id} exists", [{"field": "id", "reason": "already taken"}])
    event = ContractSigned(terms=terms, recorded_at=now or datetime.now(UTC), actor=actor)
    state = apply(None, event)
    supply.check(conn, state, tenant["timezone"])
    # stamped with the signing instant: the scheduler compares it with each period's due time
    streams.append(conn, stream, 0, [("ContractSigned", event_to_json(event)["data"])], actor, event.recorded_at)
    _project(conn, state, tenant["timezone"], new=True)
    return contract_view(state, tenant["timezone"], now or datetime.now(UTC))


def get(conn: Connection, contract_id: str, at: str | None = None, *, now: datetime | None = None) -> dict[str, Any]:
    """GET /v1/contracts/{id}: the contract at ``at`` (RFC 3339 or a local date), by default now."""
    state = load(conn, contract_id)
    tz = zone_of(conn, state.terms)
    instant = parse_instant(at, field="at", tz=tz) if at is not None else now or datetime.now(UTC)
    return contract_view(state, tz, instant)


def events(conn: Connection, contract_id: str) -> dict[str, Any]:
    """GET /v1/contracts/{id}/events: the stream in version order, each event in the contract_json shape."""
    rows = streams.load(conn, stream_of(contract_id))
    if not rows:
        raise NotFound(f"contract {contract_id} not found", [{"field": "contract_id", "reason": "not found"}])
    items = [stored_event_json(r) for r in rows]
    return {"items": items, "next_cursor": None}


def amend(
    conn: Connection, contract_id: str, payload: object, *, actor: str, expected_version: int | None = None
) -> dict[str, Any]:
    """POST /v1/contracts/{id}/amendments ``{"item_id", "machines"|"capacity_p"|"committed_card_hours",
    "effective_at"}``: append ``ContractAmended``; returns the penalty lines of a reduction inside the
    closed term (SPEC §4), empty otherwise. 409 when the contract moved on or the period is closed.
    """
    state, tz = _load_for_change(conn, contract_id, expected_version)
    item_id, changes, effective_at = parse_amendment(payload, tz)
    _assert_open(conn, state.terms, effective_at, tz)
    validate_amendment(state, item_id, changes, effective_at, tz)
    lines = amendment_penalty_lines(state, item_id, changes, effective_at, tz)
    event = ContractAmended(
        contract_id=contract_id,
        item_id=item_id,
        changes=changes,
        effective_at=effective_at,
        version=state.version + 1,
        recorded_at=datetime.now(UTC),
        actor=actor,
    )
    amended = apply(state, event)
    supply.check(conn, amended, tz)
    data = event_to_json(event)["data"]
    streams.append(conn, stream_of(contract_id), state.version, [("ContractAmended", data)], actor)
    _project(conn, amended, tz)
    return {
        "contract_id": contract_id,
        "version": amended.version,
        "currency": state.currency,
        **data,
        **lines_json(lines),
    }


def termination_quote_json(
    conn: Connection, contract_id: str, effective_at: str | None, notice_given_at: str | None = None
) -> dict[str, Any]:
    """GET /v1/contracts/{id}/termination-quote: the figures terminating would produce, without acting;
    409 ``period_closed`` where the termination itself would be refused (SPEC §7), so a quote never
    shows figures that POST …/termination will not charge."""
    state = load(conn, contract_id)
    tz = zone_of(conn, state.terms)
    query = {"effective_at": effective_at, "notice_given_at": notice_given_at}
    effective, notice = parse_termination({key: value for key, value in query.items() if value is not None}, tz)
    _assert_open(conn, state.terms, effective, tz)
    quote = _quote_json(state, termination_quote(state, effective, notice, tz), notice)
    credits = _sla_credits_if_terminated(conn, state, effective, notice, tz)
    if credits is not None:
        quote["sla_credits"] = lines_json(credits)
    return quote


def _sla_credits_if_terminated(
    conn: Connection, state: ContractState, effective_at: datetime, notice_given_at: datetime | None, tz: str
) -> list[ChargeLine] | None:
    """For a contract with SLA items: the `sla_credit` lines the last invoiced period (the one holding
    `effective_at`) would carry, on the availability measured so far; None without SLA items."""
    from billing.core.pricing import charges_for_period
    from billing.core.sla import sla_credit_lines, sla_items
    from billing.services.close import lit_under_items

    if not sla_items([state]):
        return None
    ended = apply(
        state,
        ContractTerminated(
            contract_id=state.id,
            effective_at=effective_at,
            notice_given_at=notice_given_at or effective_at,
            version=state.version + 1,
            recorded_at=datetime.now(UTC),
            actor="quote",
        ),
    )
    period = period_of(effective_at - timedelta(microseconds=1), tz)
    charges = charges_for_period(ended, period, tz)
    lit = lit_under_items(conn, state.terms.tenant_id, [ended], period, tz)
    return sla_credit_lines([ended], period, tz, lit, charges)


def terminate(
    conn: Connection, contract_id: str, payload: object, *, actor: str, expected_version: int | None = None
) -> dict[str, Any]:
    """POST /v1/contracts/{id}/termination ``{"effective_at", "notice_given_at"}``: append
    ``ContractTerminated``; returns the quote's figures (penalty or notice_in_lieu lines) and the version."""
    state, tz = _load_for_change(conn, contract_id, expected_version)
    effective_at, notice_given_at = parse_termination(payload, tz)
    _assert_open(conn, state.terms, effective_at, tz)
    quote = termination_quote(state, effective_at, notice_given_at, tz)
    event = ContractTerminated(
        contract_id=contract_id,
        effective_at=effective_at,
        notice_given_at=notice_given_at or effective_at,
        version=state.version + 1,
        recorded_at=datetime.now(UTC),
        actor=actor,
    )
    terminated = apply(state, event)
    streams.append(
        conn, stream_of(contract_id), state.version, [("ContractTerminated", event_to_json(event)["data"])], actor
    )
    _project(conn, terminated, tz)
    return {**_quote_json(state, quote, notice_given_at), "version": terminated.version}


def list_contracts(
    conn: Connection,
    tenant_id: str | None,
    *,
    cursor: str | None = None,
    limit: int = 100,
    supplier_id: str | None = None,
) -> dict:
    """GET /v1/contracts?tenant_id=&supplier_id=: projection rows by id, ``{"items", "next_cursor"}``
    (``supplier_id`` lists a supplier's payable contracts)."""
    query = select(contracts).order_by(contracts.c.id).limit(limit)
    if tenant_id is not None:
        query = query.where(contracts.c.tenant_id == tenant_id)
    if supplier_id is not None:
        query = query.where(contracts.c.supplier_id == supplier_id)
    if cursor:
        query = query.where(contracts.c.id > cursor)
    items = [
        {
            "id": r.id,
            "tenant_id": r.tenant_id,
            **({"supplier_id": r.supplier_id} if r.supplier_id is not None else {}),
            "currency": r.currency,
            "version": r.version,
            "start": r.state["terms"]["start"],
            "closed_end": r.state["closed_end"],
            "term_end": r.state["term_end"],
            "terminated_at": r.state["terminated_at"],
        }
        for r in conn.execute(query)
    ]
    return {"items": items, "next_cursor": items[-1]["id"] if len(items) == limit else None}


def rebuild_projection(conn: Connection) -> int:
    """Drop the ``contracts`` projection and refold every ``contract:*`` stream into it; returns the count."""
    conn.execute(delete(contracts))
    zones: dict[tuple[bool, str], str] = {}
    states = every_contract(conn)
    for state in states:
        key = (state.terms.payable, state.terms.party_id)
        zones.setdefault(key, zone_of(conn, state.terms))
        _project(conn, state, zones[key], new=True)
    return len(states)
