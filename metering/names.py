"""The usage log's dictionary: each name (source, tenant, contract, GPU, model, node, id prefix) ↔ a
small integer, so a log row and a coverage row carry 4 bytes per name instead of the text.

``usage_names`` is append-only like the log: a number, once given, names the same string for ever,
so each process caches both directions (numbers read as committed only). A name new to the
dictionary is added in the recording transaction that first needs it, and so is kept exactly when
the events naming it are.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from sqlalchemy import Connection

from kashi.db import Int4s, raw

_CACHE_LIMIT = 50_000
"""Names cached per database (both directions): past this the cache starts over, so a worker's memory stays flat."""
_lock = threading.Lock()
_by_name: dict[str, dict[str, int]] = {}
_by_no: dict[str, dict[int, str]] = {}


_MINE = "coalesce(xmin = xid(pg_current_xact_id_if_assigned()), false)"
"""Whether a row visible to this transaction was added by it (so is not committed yet)."""
_LOOKUP = f"""SELECT n.no, n.name, n.mine FROM unnest(%b::text[]) AS w(name)
              CROSS JOIN LATERAL (SELECT no, name, {_MINE} AS mine FROM usage_names
                                  WHERE name = w.name LIMIT 1) AS n"""
"""One index probe per name (the LIMIT keeps it a probe whatever the statistics). ``name = ANY(…)``
was planned as a sequential scan of the whole dictionary while its statistics lagged behind its
growth (ingest adds names faster than autovacuum analyzes)."""


def _db(conn: Connection) -> str:
    return conn.engine.url.render_as_string(hide_password=True)


def _remember(db: str, pairs: Iterable[tuple[int, str]]) -> None:
    with _lock:
        by_name, by_no = _by_name.setdefault(db, {}), _by_no.setdefault(db, {})
        if len(by_name) > _CACHE_LIMIT:  # unbounded id prefixes must not grow a worker's memory for ever
            by_name, by_no = _by_name[db], _by_no[db] = {}, {}  # new dicts: callers may hold the old
        for no, name in pairs:
            by_name[name] = no
            by_no[no] = name


def numbers(conn: Connection, names: Iterable[str]) -> Mapping[str, int]:
    """The dictionary number of each name, adding the new ones in ``conn``'s transaction; the
    mapping returned may hold more names than asked for.

    Only committed numbers are cached: a name this transaction added (and may still roll back) is
    cached by a later transaction's lookup, never by this one's, so a recording that rolls back never
    leaves a cached number without its name. New names are inserted in sorted order, so two recorders
    adding the same names wait for each other instead of deadlocking."""
    db = _db(conn)
    known = _by_name.get(db, {})
    wanted = names if isinstance(names, set) else set(names)
    missing = sorted(wanted - known.keys())
    if not missing:
        return known
    found = {name: known[name] for name in wanted if name in known}
    pg = raw(conn)
    visible = pg.execute(_LOOKUP, (missing,)).fetchall()
    _remember(db, [(no, name) for no, name, mine in visible if not mine])
    found.update((name, no) for no, name, _ in visible)
    new = [name for name in missing if name not in found]
    if new:
        added = pg.execute(
            """INSERT INTO usage_names (name) SELECT unnest(%b::text[]) ORDER BY 1
               ON CONFLICT (name) DO NOTHING RETURNING no, name""",
            (new,),
        ).fetchall()
        found.update((name, no) for no, name in added)
        raced = [name for name in new if name not in found]  # added and committed by another recorder meanwhile
        if raced:
            rows = pg.execute(_LOOKUP, (raced,)).fetchall()  # committed: ON CONFLICT waited for them
            _remember(db, [(no, name) for no, name, _ in rows])
            found.update((name, no) for no, name, _ in rows)
    return found


def names(conn: Connection, numbers_: Iterable[int]) -> dict[int, str]:
    """The name of each dictionary number (read in ``conn``'s snapshot when not cached; only
    committed ones are cached, as in :func:`numbers`)."""
    db = _db(conn)
    known = _by_no.get(db, {})
    wanted = {n for n in numbers_ if n is not None}
    found = {no: known[no] for no in wanted if no in known}
    missing = sorted(wanted - found.keys())
    if missing:
        rows = (
            raw(conn)
            .execute(f"SELECT no, name, {_MINE} FROM usage_names WHERE no = ANY(%b::int[])", (Int4s(missing),))
            .fetchall()
        )
        _remember(db, [(no, name) for no, name, mine in rows if not mine])
        found.update((no, name) for no, name, _ in rows)
    return found
