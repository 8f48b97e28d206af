"""Service: the fleet registry (SPEC §15) — every GPU that ever reported, its last state, retirement.

A GPU enters the fleet at its first `gpu.status` (the registry row is written by the recording
transaction, `metering.fleet_store`) and leaves it at ``POST /v1/fleet/gpus/{gpu}/retire {"at"}``:
a ``GpuRetired`` event on the stream ``fleet:<gpu>``, projected into ``fleet_gpus.retired_at``.
Capacity (card-seconds in the fleet) runs from the first report's start to the retirement.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import Connection, text

from kashi import streams
from kashi.errors import Conflict, NotFound, ValidationFailed

FLEET_TABLES = (
    "gpu_status_coverage",
    "gpu_status_hourly",
    "fleet_hourly",
    "fleet_model_hourly",
    "tenant_fleet_hourly",
    "fleet_gpus",
)
FLEET_COLUMNS = {
    "gpu_status_coverage": "gpu, start_s, end_s, state",
    "gpu_status_hourly": "gpu, hour, reported_s, down_s, allocated_s, busy_s, status_busy_s",
    "fleet_hourly": "node, gpu_model, hour, reported_s, down_s, allocated_s, busy_s, status_busy_s",
    "fleet_model_hourly": "gpu_model, hour, shard, reported_s, down_s, allocated_s, busy_s, status_busy_s",
    "tenant_fleet_hourly": "tenant_id, contract_id, gpu_model, hour, allocated_s, lit_allocated_s, busy_s, last_seq",
    "fleet_gpus": "gpu, node, gpu_model, first_seen_s, last_state, last_reason, last_start_s, last_end_s, last_seq, "
    "retired_at",
}
"""What `kashi replay --verify` compares of each fleet projection."""
RETIRED = "GpuRetired"
MAX_PAGE = 1000


def stream_of(gpu: str) -> str:
    return f"fleet:{gpu}"


def _instant(seconds: int | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _json(row) -> dict:
    retired = row.retired_at
    return {
        "gpu": row.gpu,
        "node": row.node or None,
        "gpu_model": row.gpu_model,
        "state": row.last_state,
        "reason": row.last_reason,
        "last_report_start": _instant(row.last_start_s),
        "last_report_end": _instant(row.last_end_s),
        "first_seen": _instant(row.first_seen_s),
        "retired_at": None if retired is None else retired.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }


def list_gpus(
    conn: Connection,
    *,
    cursor: str | None = None,
    limit: int = 100,
    node: str | None = None,
    gpu_model: str | None = None,
    state: str | None = None,
    include_retired: bool = True,
) -> dict:
    """A page of the fleet ordered by GPU id: ``{"items": [...], "next_cursor": ...}``."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed.of("limit", f"must be between 1 and {MAX_PAGE}")
    if state is not None and state not in ("idle", "allocated", "down"):
        raise ValidationFailed.of("state", "must be idle, allocated or down")
    rows = conn.execute(
        text("""SELECT * FROM fleet_gpus
                WHERE (CAST(:c AS text) IS NULL OR gpu > :c) AND (CAST(:n AS text) IS NULL OR node = :n)
                  AND (CAST(:m AS text) IS NULL OR gpu_model = :m) AND (CAST(:s AS text) IS NULL OR last_state = :s)
                  AND (:r OR retired_at IS NULL)
                ORDER BY gpu LIMIT :l"""),
        {"c": cursor, "n": node, "m": gpu_model, "s": state, "r": include_retired, "l": limit},
    ).all()
    items = [_json(row) for row in rows]
    return {"items": items, "next_cursor": items[-1]["gpu"] if len(items) == limit else None}


def get_gpu(conn: Connection, gpu: str) -> dict:
    row = conn.execute(text("SELECT * FROM fleet_gpus WHERE gpu = :g"), {"g": gpu}).one_or_none()
    if row is None:
        raise NotFound(f"GPU {gpu} has never reported", [{"field": "gpu", "reason": "not in the fleet"}])
    return _json(row)


def retire(conn: Connection, gpu: str, at: datetime, *, actor: str) -> dict:
    """Record that `gpu` left the fleet at `at` (an aware instant): 404 if it never reported, 409 if
    already retired, 422 if `at` is before its first report."""
    if at.tzinfo is None:
        raise ValidationFailed.of("at", "must carry a UTC offset (RFC 3339)")
    row = conn.execute(text("SELECT * FROM fleet_gpus WHERE gpu = :g FOR UPDATE"), {"g": gpu}).one_or_none()
    if row is None:
        raise NotFound(f"GPU {gpu} has never reported", [{"field": "gpu", "reason": "not in the fleet"}])
    if row.retired_at is not None:
        raise Conflict(f"GPU {gpu} is already retired", [{"field": "gpu", "reason": f"retired at {row.retired_at}"}])
    if at.timestamp() < row.first_seen_s:
        raise ValidationFailed.of("at", f"must not be before the GPU's first report ({_instant(row.first_seen_s)})")
    stream = stream_of(gpu)
    streams.append(
        conn,
        stream,
        streams.current_version(conn, stream),
        [(RETIRED, {"gpu": gpu, "at": at.astimezone(UTC).isoformat()})],
        actor,
    )
    conn.execute(text("UPDATE fleet_gpus SET retired_at = :a WHERE gpu = :g"), {"a": at, "g": gpu})
    return get_gpu(conn, gpu)


def rebuild_retirements(conn: Connection) -> int:
    """Set ``retired_at`` from the ``fleet:<gpu>`` streams (after the registry was refolded from the log)."""
    rows = conn.execute(
        text("SELECT data FROM stream_events WHERE stream_id LIKE 'fleet:%' AND type = :t ORDER BY stream_id, version"),
        {"t": RETIRED},
    ).all()
    retired: dict[str, str] = {}
    for row in rows:
        data: Mapping = row.data
        retired[data["gpu"]] = data["at"]
    for gpu, at in retired.items():
        conn.execute(
            text("UPDATE fleet_gpus SET retired_at = CAST(:a AS timestamptz) WHERE gpu = :g"), {"a": at, "g": gpu}
        )
    return len(retired)
