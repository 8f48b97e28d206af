"""The agent's durable spool: every event is on disk before it is sent (SPEC §3).

One SQLite database (stdlib, WAL, ``synchronous=FULL``) in the spool directory:

* ``pending``: events not yet acknowledged by a 202, oldest first;
* ``dead``: events the server rejected (422), set aside with the server's reason — neither
  retried forever nor silently dropped; an operator inspects them (`dead_letters`);
* ``delivered``: ids acknowledged recently, so an event built again after a restart is not
  sent twice (the server would ignore it anyway: ``(source, id)`` dedup);
* ``state``: small values that must change in the same transaction as the events they
  produced, e.g. the last token counter values (so a restart never counts tokens twice).

The spool is bounded by `max_bytes` (event bodies, pending and dead): when full, new events
are refused and counted, never old unsent ones deleted.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("kashi.agent.spool")

SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, bytes INTEGER NOT NULL,
    spooled_at REAL NOT NULL, UNIQUE (source, id));
CREATE TABLE IF NOT EXISTS dead (
    seq INTEGER PRIMARY KEY,
    source TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, bytes INTEGER NOT NULL,
    reason TEXT NOT NULL, dead_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS dead_by_id ON dead (source, id);
CREATE TABLE IF NOT EXISTS delivered (
    source TEXT NOT NULL, id TEXT NOT NULL, delivered_at REAL NOT NULL, PRIMARY KEY (source, id));
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Added:
    """Outcome of `Spool.add`: events stored, already known (skipped), refused (spool full)."""

    stored: int
    duplicates: int
    refused: int


@dataclass(frozen=True)
class Spooled:
    seq: int
    id: str
    body: str


def encode(event: Mapping) -> str:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


class Spool:
    """The spool in ``directory/spool.sqlite3``; safe to share between the agent's threads."""

    def __init__(
        self,
        directory: str | Path,
        max_bytes: int = 1 << 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._clock = clock
        self._lock = threading.Lock()
        self._full = False
        self._db = sqlite3.connect(
            self.directory / "spool.sqlite3", isolation_level=None, check_same_thread=False, timeout=30
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _transaction(self):
        return _Transaction(self._db)

    def add(self, events: Iterable[Mapping], state: Mapping[str, str] | None = None) -> Added:
        """Store `events` and, in the same transaction, `state`; all or nothing.

        Events whose ``(source, id)`` is pending, delivered or dead are skipped as duplicates.
        When the new bodies do not fit under `max_bytes`, nothing is stored (the state neither,
        so token counts are not lost: the next window's delta includes them).
        """
        rows = [(e["source"], e["id"], encode(e)) for e in events]
        with self._lock, self._transaction() as db:
            fresh, seen = [], set()
            for source, event_id, body in rows:
                if (source, event_id) in seen or self._known(db, source, event_id):
                    continue
                seen.add((source, event_id))
                fresh.append((source, event_id, body, len(body.encode())))
            duplicates = len(rows) - len(fresh)
            need = sum(r[3] for r in fresh)
            used = self._used_bytes(db)
            if fresh and used + need > self.max_bytes:
                if not self._full:
                    log.error(
                        "spool full: refusing new events until the server takes some",
                        extra={"spool_bytes": used, "max_bytes": self.max_bytes, "refused": len(fresh)},
                    )
                self._full = True
                return Added(0, duplicates, len(fresh))
            if self._full:
                log.warning("spool has room again", extra={"spool_bytes": used})
                self._full = False
            now = self._clock()
            db.executemany(
                "INSERT INTO pending (source, id, body, bytes, spooled_at) VALUES (?, ?, ?, ?, ?)",
                [(*r, now) for r in fresh],
            )
            if state:
                db.executemany(
                    "INSERT INTO state (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    list(state.items()),
                )
            return Added(len(fresh), duplicates, 0)

    @staticmethod
    def _known(db: sqlite3.Connection, source: str, event_id: str) -> bool:
        for table in ("pending", "delivered", "dead"):
            row = db.execute(f"SELECT 1 FROM {table} WHERE source = ? AND id = ? LIMIT 1", (source, event_id))
            if row.fetchone():
                return True
        return False

    @staticmethod
    def _used_bytes(db: sqlite3.Connection) -> int:
        pending = db.execute("SELECT COALESCE(SUM(bytes), 0) FROM pending").fetchone()[0]
        dead = db.execute("SELECT COALESCE(SUM(bytes), 0) FROM dead").fetchone()[0]
        return int(pending) + int(dead)

    def oldest(self, max_events: int = 10_000, max_bytes: int = 5 * 1024 * 1024) -> list[Spooled]:
        """The oldest pending events whose JSON array fits `max_events` and `max_bytes`.

        A single event larger than `max_bytes` is returned alone (the server will refuse it and
        it goes to the dead letters rather than block the spool).
        """
        out: list[Spooled] = []
        size = 2  # the brackets of the array
        with self._lock:
            cursor = self._db.execute("SELECT seq, id, body, bytes FROM pending ORDER BY seq LIMIT ?", (max_events,))
            for seq, event_id, body, nbytes in cursor:
                if out and size + nbytes + 1 > max_bytes:
                    break
                out.append(Spooled(seq, event_id, body))
                size += nbytes + 1
        return out

    def acknowledge(self, seqs: Iterable[int]) -> int:
        """The server took these (202): remove them from pending, remember their ids."""
        seqs = list(seqs)
        with self._lock, self._transaction() as db:
            now = self._clock()
            db.executemany(
                "INSERT OR IGNORE INTO delivered (source, id, delivered_at) "
                "SELECT source, id, ? FROM pending WHERE seq = ?",
                [(now, s) for s in seqs],
            )
            db.executemany("DELETE FROM pending WHERE seq = ?", [(s,) for s in seqs])
        return len(seqs)

    def bury(self, reasons: Mapping[int, str]) -> int:
        """Move pending events (by seq) to the dead letters with the server's reason."""
        with self._lock, self._transaction() as db:
            now = self._clock()
            db.executemany(
                "INSERT INTO dead (seq, source, id, body, bytes, reason, dead_at) "
                "SELECT seq, source, id, body, bytes, ?, ? FROM pending WHERE seq = ?",
                [(reason, now, seq) for seq, reason in reasons.items()],
            )
            db.executemany("DELETE FROM pending WHERE seq = ?", [(s,) for s in reasons])
        return len(reasons)

    def forget_delivered(self, older_than_s: float = 7 * 86_400) -> int:
        """Drop delivery records older than `older_than_s` (the server dedups beyond that)."""
        with self._lock, self._transaction() as db:
            cursor = db.execute("DELETE FROM delivered WHERE delivered_at < ?", (self._clock() - older_than_s,))
            return cursor.rowcount

    def depth(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM pending").fetchone()[0])

    def used_bytes(self) -> int:
        with self._lock:
            return self._used_bytes(self._db)

    def dead_letters(self) -> list[dict]:
        """Dead letters: ``{"id", "reason", "event"}``, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT id, reason, body FROM dead ORDER BY seq").fetchall()
        return [{"id": i, "reason": r, "event": json.loads(b)} for i, r, b in rows]

    def get_state(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_state(self, key: str, value: str) -> None:
        with self._lock, self._transaction() as db:
            db.execute(
                "INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, exc, tb) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
