"""The log's dictionary (metering.names): numbers are cached only once committed."""

from __future__ import annotations

from sqlalchemy import text

from metering import names


def _name_of(conn, no: int) -> str | None:
    return conn.execute(text("SELECT name FROM usage_names WHERE no = :n"), {"n": no}).scalar_one_or_none()


def test_a_name_added_by_a_transaction_that_rolls_back_is_not_cached(kashi, uid):
    name = f"GPU-{uid}-rolled-back"
    with kashi.engine.connect() as conn, conn.begin() as tx:
        added = names.numbers(conn, {name})[name]
        assert names.numbers(conn, {name})[name] == added  # read again in the same transaction
        assert names.names(conn, [added]) == {added: name}
        tx.rollback()
    with kashi.engine.begin() as conn:  # the number of the rolled-back row must not be served
        no = names.numbers(conn, {name})[name]
        assert no != added and _name_of(conn, no) == name
        assert names.names(conn, [added]) == {}
    with kashi.engine.begin() as conn:  # committed now: served from the cache, still the row's number
        assert names.numbers(conn, {name})[name] == no and _name_of(conn, no) == name
