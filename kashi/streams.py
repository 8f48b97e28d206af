"""The event store: append-only streams keyed by ``(stream_id, version)`` (the optimistic lock).

Every state change of tenants, contracts and the GPU catalog is appended here; projections are
folds of these events and can be dropped and rebuilt (``kashi replay``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.exc import IntegrityError

from kashi.errors import VersionConflict
from kashi.tables import stream_events


@dataclass(frozen=True)
class StoredEvent:
    stream_id: str
    version: int
    type: str
    data: dict
    actor: str
    recorded_at: datetime


def load(conn: Connection, stream_id: str) -> list[StoredEvent]:
    """Every event of a stream, in version order."""
    rows = conn.execute(
        select(stream_events).where(stream_events.c.stream_id == stream_id).order_by(stream_events.c.version)
    ).all()
    return [StoredEvent(r.stream_id, r.version, r.type, r.data, r.actor, r.recorded_at) for r in rows]


def current_version(conn: Connection, stream_id: str) -> int:
    return conn.execute(
        select(func.coalesce(func.max(stream_events.c.version), 0)).where(stream_events.c.stream_id == stream_id)
    ).scalar_one()


def append(
    conn: Connection,
    stream_id: str,
    expected_version: int,
    events: list[tuple[str, dict]],
    actor: str,
    recorded_at: datetime | None = None,
) -> list[StoredEvent]:
    """Append ``(type, data)`` events after ``expected_version``; a concurrent writer gets VersionConflict.

    ``recorded_at`` stamps them with the caller's clock (the event's own instant) instead of the database's."""
    rows = [
        {"stream_id": stream_id, "version": expected_version + i, "type": t, "data": d, "actor": actor}
        for i, (t, d) in enumerate(events, start=1)
    ]
    if recorded_at is not None:
        rows = [{**row, "recorded_at": recorded_at} for row in rows]
    try:
        with conn.begin_nested():
            stored = conn.execute(insert(stream_events).returning(stream_events), rows).all()
    except IntegrityError as exc:
        raise VersionConflict(
            f"stream {stream_id} changed concurrently (expected version {expected_version})",
            [{"field": "version", "reason": "another change was recorded first; reload and retry"}],
        ) from exc
    return [StoredEvent(r.stream_id, r.version, r.type, r.data, r.actor, r.recorded_at) for r in stored]
