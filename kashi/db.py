"""Engines and sessions, built at run time from :class:`~kashi.settings.Settings`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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
