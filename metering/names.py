"""The usage log's dictionary: each name (source, tenant, contract, GPU, model, node, id prefix) ↔ a
small integer, so a log row and a coverage row carry 4 bytes per name instead of the text.

``usage_names`` is append-only like the log: a number, once given, names the same string for ever,
so each process caches both directions. A name new to the dictionary is added in its own short
committed transaction (on another pooled connection) before the recording transaction uses it; a
recording that then rolls back leaves at worst an unused name, never a number without its name.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from sqlalchemy import Connection, text

from kashi.db import raw

_CACHE_LIMIT = 200_000
_lock = threading.Lock()
_by_name: dict[str, dict[str, int]] = {}
_by_no: dict[str, dict[int, str]] = {}


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
    """The dictionary number of each name, adding the new ones (committed before this returns);
    the mapping returned may hold more names than asked for."""
    db = _db(conn)
    known = _by_name.get(db, {})
    wanted = names if isinstance(names, set) else set(names)
    missing = sorted(wanted - known.keys())
    if not missing:
        return known
    found = {name: known[name] for name in wanted if name in known}
    if missing:
        with conn.engine.begin() as own:
            own.execute(
                text("""INSERT INTO usage_names (name) SELECT unnest(CAST(:n AS text[])) ORDER BY 1
                        ON CONFLICT (name) DO NOTHING"""),
                {"n": missing},
            )
        with conn.engine.connect() as own:  # a new snapshot: names another process added meanwhile too
            rows = own.execute(text("SELECT no, name FROM usage_names WHERE name = ANY(:n)"), {"n": missing}).all()
        _remember(db, rows)
        found.update((name, no) for no, name in rows)
    return found


def names(conn: Connection, numbers_: Iterable[int]) -> dict[int, str]:
    """The name of each dictionary number (read in ``conn``'s snapshot when not cached)."""
    db = _db(conn)
    known = _by_no.get(db, {})
    wanted = {n for n in numbers_ if n is not None}
    found = {no: known[no] for no in wanted if no in known}
    missing = sorted(wanted - found.keys())
    if missing:
        rows = raw(conn).execute("SELECT no, name FROM usage_names WHERE no = ANY(%b::int[])", (missing,)).fetchall()
        _remember(db, rows)
        found.update(rows)
    return found
