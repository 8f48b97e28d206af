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

The heap is read by block ranges and the changed rows updated by ctid (the append-only trigger is off
meanwhile); names new to the dictionary are added. If any row moved, the table is then rewritten in
seq order (`CLUSTER` on a temporary seq index: one more pass, an exclusive lock, and no dead rows
left). No recorder may run meanwhile: stop the workers before upgrading (recorders with the other
rule would log a resend under another key). The downgrade moves them back.
"""

import re

from alembic import op
from sqlalchemy import text

revision = "issue17ingest_0002"
down_revision = "issue17ingest_0001"
branch_labels = None
depends_on = None

PAGES = 1_000
"""Heap pages read per statement (about 70,000 log rows): a TID range scan."""
_SPLIT = re.compile(r"(.*[^0-9])([0-9]+)", re.DOTALL)
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_TRAILING_HEX = re.compile(r"(.*[^0-9A-Fa-f]|)([0-9A-Fa-f]{16,})", re.DOTALL)
_LAST_LONG_RUN = re.compile(r".*(?<![0-9])([0-9]{6,})", re.DOTALL)
_HEX = frozenset("0123456789abcdefABCDEF")


def old_split(event_id: str) -> tuple[str, str]:
    """The rule before this revision: after the last non-digit."""
    found = _SPLIT.fullmatch(event_id)
    return (found[1], found[2]) if found else ("", event_id)


def new_split(event_id: str) -> tuple[str, str]:
    """The rule from this revision (``metering.log.split_id`` as it is here)."""
    if len(event_id) >= 36 and _UUID.fullmatch(event_id, len(event_id) - 36):
        return event_id[:-36], event_id[-36:]
    found = _SPLIT.fullmatch(event_id)
    if found is not None and len(found[2]) >= 6 and found[1][-1] not in _HEX:
        return found[1], found[2]
    hexed = _TRAILING_HEX.fullmatch(event_id)
    if hexed is not None:
        return hexed[1], hexed[2]
    if found is not None and len(found[2]) >= 6:
        return found[1], found[2]
    run = _LAST_LONG_RUN.match(event_id)
    if run is not None:
        return event_id[: run.start(1)], event_id[run.start(1) :]
    return (found[1], found[2]) if found else ("", event_id)


_PROBE = """SELECT n.no, n.name FROM unnest(CAST(:n AS {type}[])) AS w(k)
            CROSS JOIN LATERAL (SELECT no, name FROM usage_names WHERE {column} = w.k LIMIT 1) AS n"""


def _move_keys(split) -> None:
    """Re-split the id of every row; update the rows whose key changes, then rewrite the table in seq
    order (an update leaves the new row version elsewhere in the heap, and the seq BRIN, replay's
    range scans and the conflict lookups rely on the heap being in seq order)."""
    conn = op.get_bind()
    pages = conn.execute(
        text("SELECT pg_relation_size('usage_log') / current_setting('block_size')::int")
    ).scalar_one()
    op.execute("ALTER TABLE usage_log DISABLE TRIGGER usage_log_append_only")
    moved_any = False
    for first in range(0, pages, PAGES):  # by block: versions written by these updates land past `pages`
        rows = conn.execute(
            text("""SELECT ctid::text AS ctid, id_prefix_no, id_suffix FROM usage_log
                    WHERE ctid >= CAST(:a AS tid) AND ctid < CAST(:b AS tid)"""),
            {"a": f"({first},0)", "b": f"({first + PAGES},0)"},
        ).all()
        numbers = sorted({r.id_prefix_no for r in rows})
        name_of = dict(conn.execute(text(_PROBE.format(type="int", column="no")), {"n": numbers}).all())
        moved = []
        for row in rows:
            prefix, suffix = name_of[row.id_prefix_no], row.id_suffix
            again = split(prefix + suffix)
            if again != (prefix, suffix):
                moved.append((row.ctid, *again))
        if not moved:
            continue
        moved_any = True
        prefixes = sorted({prefix for _, prefix, _ in moved})
        conn.execute(
            text("INSERT INTO usage_names (name) SELECT unnest(CAST(:n AS text[])) ORDER BY 1 ON CONFLICT DO NOTHING"),
            {"n": prefixes},
        )
        number_of = {
            name: no for no, name in conn.execute(text(_PROBE.format(type="text", column="name")), {"n": prefixes})
        }
        conn.execute(
            text("""UPDATE usage_log l SET id_prefix_no = u.p, id_suffix = u.s
                    FROM unnest(CAST(:t AS tid[]), CAST(:p AS int[]), CAST(:s AS text[])) AS u(t, p, s)
                    WHERE l.ctid = u.t"""),
            {
                "t": [ctid for ctid, _, _ in moved],
                "p": [number_of[prefix] for _, prefix, _ in moved],
                "s": [suffix for _, _, suffix in moved],
            },
        )
    op.execute("ALTER TABLE usage_log ENABLE TRIGGER usage_log_append_only")
    if moved_any:
        op.execute("CREATE INDEX usage_log_seq_order ON usage_log (seq)")
        op.execute("CLUSTER usage_log USING usage_log_seq_order")
        op.execute("DROP INDEX usage_log_seq_order")


def upgrade() -> None:
    _move_keys(new_split)


def downgrade() -> None:
    _move_keys(old_split)
