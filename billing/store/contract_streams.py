"""The one reader of contract streams: ``contract:<id>`` in ``stream_events`` (SPEC §4, §6).

Every contract is the fold of its stream; the stream id is spelled once, in
:data:`billing.core.contract_json.STREAM_PREFIX`.
"""

from __future__ import annotations

import json
from collections import defaultdict

from sqlalchemy import Connection, text

from billing.core.contract_json import STREAM_PREFIX, contract_of, event_from_json, stored_event_json, stream_of
from billing.core.contracts import ContractState, fold

PARTIES = {"tenant_id": "tenant_id", "supplier_id": "supplier_id"}
"""Whose contracts: a tenant's (receivable) or a supplier's (payable, SPEC §17)."""


def contract_states(conn: Connection, tenant_id: str, versions: dict[str, int] | None = None, *,
                    party: str = "tenant_id") -> list[ContractState]:  # fmt: skip
    """The tenant's contracts folded from their streams, by id; `versions` caps each (replay), None = all.
    party="supplier_id" reads a supplier's payable contracts instead (`tenant_id` is then its id)."""
    ids = conn.execute(
        text(f"""SELECT substr(stream_id, :n) FROM stream_events WHERE stream_id LIKE :pattern
                AND version = 1 AND data->>'{PARTIES[party]}' = :t ORDER BY stream_id"""),
        {"t": tenant_id, "pattern": STREAM_PREFIX + "%", "n": len(STREAM_PREFIX) + 1},
    ).scalars().all()  # fmt: skip
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
    return conn.execute(
        text("""SELECT substr(stream_id, :n) FROM stream_events WHERE stream_id LIKE :pattern AND version = 1
                AND data->'items' @> CAST(:j AS jsonb) ORDER BY stream_id"""),
        {"j": json.dumps([{"supplied_by": reference}]), "pattern": STREAM_PREFIX + "%", "n": len(STREAM_PREFIX) + 1},
    ).scalars().all()  # fmt: skip
