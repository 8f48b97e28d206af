"""The one reader of contract streams: ``contract:<id>`` in ``stream_events`` (SPEC §4, §6).

Every contract is the fold of its stream; the stream id is spelled once, in
:data:`billing.core.contract_json.STREAM_PREFIX`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime

from sqlalchemy import Connection, select, text

from billing.core.contract_json import STREAM_PREFIX, contract_of, event_from_json, stored_event_json, stream_of
from billing.core.contracts import ContractState, fold
from kashi import streams
from kashi.errors import NotFound
from kashi.tables import stream_events

PARTIES = {"tenant_id": "tenant_id", "supplier_id": "supplier_id"}
"""Whose contracts: a tenant's (receivable) or a supplier's (payable, SPEC §17)."""


def contract_states(
    conn: Connection, tenant_id: str, versions: dict[str, int] | None = None, *, party: str = "tenant_id"
) -> list[ContractState]:
    """The tenant's contracts folded from their streams, by id; `versions` caps each (replay), None = all.
    party="supplier_id" reads a supplier's payable contracts instead (`tenant_id` is then its id)."""
    return contract_states_of(conn, [tenant_id], versions, party=party).get(tenant_id, [])


def contract_states_of(
    conn: Connection, tenant_ids: list[str], versions: dict[str, int] | None = None, *, party: str = "tenant_id"
) -> dict[str, list[ContractState]]:
    """Each tenant's (or supplier's) contracts folded from their streams, by id, in one query: whose
    contracts they are comes from the indexed `contracts.tenant_id` / `contracts.supplier_id` (the
    projection written with each contract's first event), the events themselves from the streams.
    Parties without contracts are absent."""
    column = PARTIES[party]
    rows = conn.execute(
        text(f"""SELECT c.{column} AS owner, s.stream_id, s.version, s.type, s.data, s.actor, s.recorded_at
                FROM contracts c JOIN stream_events s ON s.stream_id = :prefix || c.id
                WHERE c.{column} = ANY(:t) ORDER BY s.stream_id, s.version"""),
        {"t": list(tenant_ids), "prefix": STREAM_PREFIX},
    ).all()
    events: dict[str, list] = defaultdict(list)
    owner: dict[str, str] = {}
    for row in rows:
        contract_id = contract_of(row.stream_id)
        if versions is not None and (contract_id not in versions or row.version > versions[contract_id]):
            continue
        owner[contract_id] = row.owner
        events[contract_id].append(event_from_json(stored_event_json(row)))
    states: dict[str, list[ContractState]] = defaultdict(list)
    for contract_id in sorted(events):
        states[owner[contract_id]].append(fold(events[contract_id]))
    return dict(states)


def ids_reselling(conn: Connection, reference: str) -> list[str]:
    """The contracts signed with an item `supplied_by` `reference` ("<payable contract>/<item>", SPEC §17)."""
    return (
        conn.execute(
            text("""SELECT substr(stream_id, :n) FROM stream_events WHERE stream_id LIKE :pattern AND version = 1
                AND data->'items' @> CAST(:j AS jsonb) ORDER BY stream_id"""),
            {
                "j": json.dumps([{"supplied_by": reference}]),
                "pattern": STREAM_PREFIX + "%",
                "n": len(STREAM_PREFIX) + 1,
            },
        )
        .scalars()
        .all()
    )


def load(conn: Connection, contract_id: str) -> ContractState:
    """The contract folded from its whole stream; NotFound when the stream is empty."""
    rows = streams.load(conn, stream_of(contract_id))
    if not rows:
        raise NotFound(f"contract {contract_id} not found", [{"field": "contract_id", "reason": "not found"}])
    return fold(_events(rows))


def every_contract(conn: Connection) -> list[ContractState]:
    """Every contract of every tenant folded from its stream, by stream id (replay of the projection)."""
    rows = conn.execute(
        select(stream_events)
        .where(stream_events.c.stream_id.startswith(STREAM_PREFIX))
        .order_by(stream_events.c.stream_id, stream_events.c.version)
    ).all()
    by_stream: dict[str, list] = defaultdict(list)
    for row in rows:
        by_stream[row.stream_id].append(row)
    return [fold(_events(events)) for events in by_stream.values()]


def _events(rows) -> list:
    return [event_from_json(stored_event_json(r)) for r in rows]


def recorded_at_of(conn: Connection, tenant_ids: list[str]) -> dict[str, dict[str, datetime]]:
    """When each contract of each tenant was recorded (its signing event), by tenant and contract id,
    in one query through the indexed `contracts.tenant_id` (not a filter on every stream's JSON)."""
    rows = conn.execute(
        text("""SELECT c.tenant_id, c.id AS contract_id, s.recorded_at
                FROM contracts c JOIN stream_events s ON s.stream_id = :prefix || c.id AND s.version = 1
                WHERE c.tenant_id = ANY(:t)"""),
        {"t": list(tenant_ids), "prefix": STREAM_PREFIX},
    ).all()
    found: dict[str, dict[str, datetime]] = defaultdict(dict)
    for row in rows:
        found[row.tenant_id][row.contract_id] = row.recorded_at
    return dict(found)
