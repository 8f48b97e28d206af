"""Engines and sessions, built at run time from :class:`~kashi.settings.Settings`."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.adapt import Dumper
from psycopg.pq import Format
from sqlalchemy import Connection, Engine, MetaData, create_engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DataError, OperationalError

from kashi.errors import Unavailable, UnstorableValue

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def make_engine(database_url: str, *, pool_size: int = 5) -> Engine:
    """A psycopg 3 engine; ``postgresql://`` URLs are taken to mean the psycopg driver."""
    if database_url.startswith("postgresql://") or database_url.startswith("postgres://"):
        database_url = "postgresql+psycopg://" + database_url.split("://", 1)[1]
    engine = create_engine(database_url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True)
    event.listen(engine, "handle_error", _domain_error)
    return engine


def _domain_error(context: ExceptionContext) -> None:
    """The driver's ``DataError`` (PostgreSQL refused a value: a NUL character, an out-of-range number)
    raised as :class:`~kashi.errors.UnstorableValue`, so no caller above the store sees a driver error.
    A lost or refused connection is :class:`~kashi.errors.Unavailable` (503, retried). Unique violations
    are the stores' to name (``kashi.streams`` turns its own into VersionConflict)."""
    if isinstance(context.sqlalchemy_exception, DataError):
        orig = context.original_exception
        raise UnstorableValue(str(orig).splitlines()[0] if orig else "invalid value")
    lost = context.is_disconnect or context.connection is None  # dropped, or refused at connect
    if lost and not context.is_pre_ping and isinstance(context.sqlalchemy_exception, OperationalError):
        # PostgreSQL is down or restarting: callers retry (the API answers 503, workers redeliver).
        raise Unavailable("the database is unavailable; retry later")


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """One database transaction: committed when the block ends, rolled back if it raises."""
    with engine.begin() as conn:
        yield conn


def raw(conn: Connection):
    """The psycopg connection under a SQLAlchemy connection (for COPY)."""
    return conn.connection.driver_connection


class Int4s(list):
    """Integers sent as one binary ``int4[]`` parameter (``%b``), packed in one call.

    psycopg dumps a list element by element (about 0.3 µs each); the recording transactions send
    arrays of thousands of numbers (the key lookup, the rollup upserts), so this packs them at once."""


class Int8s(list):
    """Integers sent as one binary ``int8[]`` parameter (``%b``), as :class:`Int4s`."""


class _IntsDumper(Dumper):
    format = Format.BINARY
    code, size, element_oid = "i", 4, psycopg.postgres.types["int4"].oid
    oid = psycopg.postgres.types["int4"].array_oid

    def dump(self, obj: list) -> bytes:
        """PostgreSQL's binary array: dimensions, flags, element type, (size, lower bound), then each
        element as its length and its value; a NULL element is length -1 and no value."""
        n = len(obj)
        if n == 0:
            return struct.pack(">3i", 0, 0, self.element_oid)
        try:
            if None not in obj:
                values = [self.size] * (2 * n)
                values[1::2] = obj
                return struct.pack(">5i" + ("i" + self.code) * n, 1, 0, self.element_oid, n, 1, *values)
            parts = [struct.pack(">5i", 1, 1, self.element_oid, n, 1)]
            for value in obj:
                parts.append(
                    struct.pack(">i", -1) if value is None else struct.pack(">i" + self.code, self.size, value)
                )
            return b"".join(parts)
        except struct.error as exc:
            raise psycopg.DataError(f"a value does not fit {self.size * 8}-bit integers: {exc}") from None


class _Int8sDumper(_IntsDumper):
    code, size, element_oid = "q", 8, psycopg.postgres.types["int8"].oid
    oid = psycopg.postgres.types["int8"].array_oid


psycopg.adapters.register_dumper(Int4s, _IntsDumper)
psycopg.adapters.register_dumper(Int8s, _Int8sDumper)
