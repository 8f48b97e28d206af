"""Which ended periods the scheduler may close on its own (worked examples in Asia/Shanghai)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from billing.core.backdating import SignedContract, backdated, due_at, latest_due, waiting_periods
from billing.core.periods import Period

TZ = "Asia/Shanghai"
GRACE = timedelta(hours=24)
FAR = datetime(2030, 1, 1, tzinfo=UTC)


def _contract(start: datetime, recorded: datetime, cid: str = "c-1", end: datetime = FAR) -> SignedContract:
    return SignedContract(cid, start, end, recorded)


def test_november_is_due_at_its_end_plus_grace_in_the_tenants_timezone():
    assert due_at(Period(2026, 11), TZ, GRACE) == datetime(2026, 12, 1, 16, tzinfo=UTC)


def test_contract_signed_in_december_starting_1_november_makes_november_backdated():
    signed = _contract(datetime(2026, 10, 31, 16, tzinfo=UTC), datetime(2026, 12, 2, 3, tzinfo=UTC))
    assert backdated([signed], Period(2026, 11), TZ, GRACE) == [signed]


def test_contract_recorded_one_second_before_the_due_time_is_not_backdated():
    signed = _contract(datetime(2026, 10, 31, 16, tzinfo=UTC), datetime(2026, 12, 1, 15, 59, 59, tzinfo=UTC))
    assert backdated([signed], Period(2026, 11), TZ, GRACE) == []


def test_a_contract_that_ended_before_the_period_does_not_hold_it_back():
    ended = _contract(
        datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 12, 20, tzinfo=UTC), end=datetime(2026, 10, 31, 16, tzinfo=UTC)
    )
    assert backdated([ended], Period(2026, 11), TZ, GRACE) == []


def test_latest_due_waits_for_the_grace():
    assert latest_due(datetime(2026, 12, 1, 15, tzinfo=UTC), TZ, GRACE) == Period(2026, 10)
    assert latest_due(datetime(2026, 12, 1, 16, tzinfo=UTC), TZ, GRACE) == Period(2026, 11)


def test_waiting_periods_name_backdated_and_older_unclosed_periods_oldest_first():
    on_time = _contract(datetime(2026, 8, 31, 16, tzinfo=UTC), datetime(2026, 8, 20, tzinfo=UTC), "c-on-time")
    late = _contract(datetime(2026, 10, 31, 16, tzinfo=UTC), datetime(2026, 12, 5, tzinfo=UTC), "c-late")
    found = waiting_periods([on_time, late], [Period(2026, 9)], datetime(2026, 12, 5, tzinfo=UTC), TZ, GRACE)
    assert [(str(w.period), w.reason, w.contract_ids) for w in found] == [
        ("2026-10", "older", ()),
        ("2026-11", "backdated", ("c-late",)),
    ]


def test_no_contracts_means_nothing_waits():
    assert waiting_periods([], [], datetime(2026, 12, 5, tzinfo=UTC), TZ, GRACE) == []
