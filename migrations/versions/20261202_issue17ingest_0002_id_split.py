"""the log's id split keeps the dictionary small: ids ending in a UUID, ids with text after their counter

Revision ID: issue17ingest_0002
Revises: issue17ingest_0001

The dedup key of `usage_log` is `(source_no, id_prefix_no, id_suffix)`, the id split in two with the
prefix a name in `usage_names`. The earlier rule cut after the id's last non-digit, so an id ending
in a random UUID (`…-446655440000`) or with text after its timestamp (`…-1790812800-overlap-2`) had
a prefix of its own: one dictionary name per event. `metering.log.split_id` now cuts before a
trailing UUID, else before the last run of six or more digits, else as before; this migration moves
the keys of the rows the two rules split differently, so every logged event keeps exactly one key
and a resend still finds it. Both rules are copied here as they are at this revision.

The rows are read in seq ranges and the changed ones updated by ctid (the append-only trigger is off
for the statement only); names new to the dictionary are added. No recorder may run meanwhile: stop
the workers before upgrading (recorders with the other rule would log a resend under another key).
The downgrade moves them back.
"""

import re

from alembic import op
from sqlalchemy import text

revision = "issue17ingest_0002"
down_revision = "issue17ingest_0001"
branch_labels = None
depends_on = None

RANGE = 50_000
"""Seqs read per statement (the log's seq index is a BRIN: a range is one bitmap scan)."""
_SPLIT = re.compile(r"(.*[^0-9])([0-9]+)", re.DOTALL)
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_LAST_LONG_RUN = re.compile(r".*(?<![0-9])([0-9]{6,})", re.DOTALL)


def old_split(event_id: str) -> tuple[str, str]:
    """The rule before this revision: after the last non-digit."""
    found = _SPLIT.fullmatch(event_id)
    return (found[1], found[2]) if found else ("", event_id)


def new_split(event_id: str) -> tuple[str, str]:
    """The rule from this revision (``metering.log.split_id`` as it is here)."""
    if len(event_id) >= 36 and _UUID.fullmatch(event_id, len(event_id) - 36):
        return event_id[:-36], event_id[-36:]
    found = _SPLIT.fullmatch(event_id)
    if found is not None and len(found[2]) >= 6:
        return found[1], found[2]
    run = _LAST_LONG_RUN.match(event_id)
    if run is not None:
        return event_id[: run.start(1)], event_id[run.start(1) :]
    return (found[1], found[2]) if found else ("", event_id)


def _names(conn, numbers: set[int], by_no: dict[int, str]) -> None:
    missing = sorted(numbers - by_no.keys())
    if missing:
        rows = conn.execute(text("SELECT no, name FROM usage_names WHERE no = ANY(:n)"), {"n": missing})
        by_no.update(dict(rows.all()))


def _numbers(conn, names: set[str], by_name: dict[str, int]) -> None:
    missing = sorted(names - by_name.keys())
    if missing:
        conn.execute(
            text("INSERT INTO usage_names (name) SELECT unnest(CAST(:n AS text[])) ORDER BY 1 ON CONFLICT DO NOTHING"),
            {"n": missing},
        )
        rows = conn.execute(text("SELECT name, no FROM usage_names WHERE name = ANY(:n)"), {"n": missing})
        by_name.update(dict(rows.all()))


def _move_keys(split) -> None:
    conn = op.get_bind()
    top = conn.execute(
        text("SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence('usage_log', 'seq')), 0)")
    ).scalar_one()
    by_no: dict[int, str] = {}
    by_name: dict[str, int] = {}
    op.execute("ALTER TABLE usage_log DISABLE TRIGGER usage_log_append_only")
    for low in range(0, top, RANGE):
        rows = conn.execute(
            text("""SELECT ctid::text AS ctid, id_prefix_no, id_suffix FROM usage_log
                    WHERE seq > :low AND seq <= :high"""),
            {"low": low, "high": low + RANGE},
        ).all()
        _names(conn, {r.id_prefix_no for r in rows}, by_no)
        moved = []
        for row in rows:
            prefix, suffix = by_no[row.id_prefix_no], row.id_suffix
            again = split(prefix + suffix)
            if again != (prefix, suffix):
                moved.append((row.ctid, *again))
        if not moved:
            continue
        _numbers(conn, {prefix for _, prefix, _ in moved}, by_name)
        conn.execute(
            text("UPDATE usage_log SET id_prefix_no = :p, id_suffix = :s WHERE ctid = CAST(:t AS tid)"),
            [{"t": ctid, "p": by_name[prefix], "s": suffix} for ctid, prefix, suffix in moved],
        )
    op.execute("ALTER TABLE usage_log ENABLE TRIGGER usage_log_append_only")


def upgrade() -> None:
    _move_keys(new_split)


def downgrade() -> None:
    _move_keys(old_split)
