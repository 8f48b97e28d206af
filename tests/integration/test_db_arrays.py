"""Integer arrays packed at once (kashi.db.Int4s/Int8s) reach PostgreSQL as psycopg would send them."""

from __future__ import annotations

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kashi.db import Int4s, Int8s, raw

INT4 = st.integers(-(2**31), 2**31 - 1)
INT8 = st.integers(-(2**63), 2**63 - 1)


@pytest.fixture
def pg(kashi):
    with kashi.engine.connect() as conn:
        yield raw(conn)
        conn.rollback()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # read-only
@given(st.lists(st.one_of(st.none(), INT4), max_size=50), st.lists(st.one_of(st.none(), INT8), max_size=50))
def test_arrays_round_trip_with_nulls_extremes_and_empty(pg, small, big):
    found = pg.execute("SELECT %b::int4[], %b::int8[]", (Int4s(small), Int8s(big))).fetchone()
    assert found == (small, big)


def test_arrays_unnest_side_by_side_as_lists_do(pg):
    query = "SELECT * FROM unnest(%b::int4[], %b::int8[], %b::text[]) AS u(a, b, c) ORDER BY a"
    rows = pg.execute(query, (Int4s([2, 1]), Int8s([2**40, -5]), ["x", "y"])).fetchall()
    assert rows == pg.execute(query, ([2, 1], [2**40, -5], ["x", "y"])).fetchall() == [(1, -5, "y"), (2, 2**40, "x")]


def test_a_value_too_wide_is_a_data_error_before_anything_is_sent(pg):
    with pytest.raises(psycopg.DataError, match="32-bit"):
        pg.execute("SELECT %b::int4[]", (Int4s([2**31]),))
