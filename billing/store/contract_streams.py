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
    ids = (
        conn.execute(
            text(f"""SELECT substr(stream_id, :n) FROM stream_events WHERE stream_id LIKE :pattern
                AND version = 1 AND data->>'{PARTIES[party]}' = :t ORDER BY stream_id"""),
            {"t": tenant_id, "pattern": STREAM_PREFIX + "%", "n": len(STREAM_PREFIX) + 1},
        )
        .scalars()
        .all()
    )
    if versions is not None:
        ids = [i for i in ids if i in versions]
    if not ids:
        return []
    rows = conn.execute(
        text("""SELECT stream_id, version, type, data, actor, recorded_at FROM stream_events
                WHERE stream_id = ANY(:s) ORDER BY stream_id, version"""),
        {"s": [stream_of(i) for i in ids]},
    ).all()
    events: dict[str, list] = defaultdict(list)
    for row in rows:
        contract_id = contract_of(row.stream_id)
        if versions is not None and row.version > versions[contract_id]:
            continue
        events[contract_id].append(event_from_json(stored_event_json(row)))
    return [fold(events[i]) for i in ids]


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


def recorded_at(conn: Connection, tenant_id: str) -> dict[str, datetime]:
    """When each of the tenant's contracts was recorded (its signing event), by contract id."""
    rows = conn.execute(
        text("""SELECT substr(stream_id, :n) AS contract_id, recorded_at FROM stream_events
                WHERE stream_id LIKE :pattern AND version = 1 AND data->>'tenant_id' = :t"""),
        {"t": tenant_id, "pattern": STREAM_PREFIX + "%", "n": len(STREAM_PREFIX) + 1},
    ).all()
    return {row.contract_id: row.recorded_at for row in rows}
