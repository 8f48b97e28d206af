"""Which ended periods the scheduler may close on its own, and which wait for the operator.

A period P of a tenant is *due* at P's end + grace (in the tenant's timezone). The scheduler closes P
on its own only when it is the tenant's most recent due period and every contract of the tenant in
force in P was recorded before P was due: a contract recorded later (signed today with a start of
last month — backdated) may still be waiting for usage its agents have not sent, so closing it would
bill a commitment shortfall against hours that are on their way. Such periods, and older unclosed
ones, wait for the operator (``GET /v1/periods/pending``; ``POST /v1/periods/{YYYY-MM}/close``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from billing.core.periods import Period, Zone, instant_to_json, period_of

MAX_MONTHS_BACK = 240
"""How far back from the latest due period a pending listing looks (20 years)."""


@dataclass(frozen=True)
class SignedContract:
    """When a contract runs and when it was recorded: all the rule needs of it."""

    contract_id: str
    start: datetime
    fees_end: datetime
    recorded_at: datetime

    def in_force(self, period: Period, tz: Zone) -> bool:
        return self.start < period.end(tz) and self.fees_end > period.start(tz)


def due_at(period: Period, tz: Zone, grace: timedelta) -> datetime:
    """When the scheduler may first close `period`: its end plus `grace`."""
    return period.end(tz) + grace


def latest_due(now: datetime, tz: Zone, grace: timedelta) -> Period:
    """The most recent period whose due time has passed at `now`."""
    last = period_of(now, tz).prev()
    return last if now >= due_at(last, tz, grace) else last.prev()


def backdated(contracts: Iterable[SignedContract], period: Period, tz: Zone, grace: timedelta) -> list[SignedContract]:
    """The contracts in force in `period` that were recorded at or after its due time."""
    due = due_at(period, tz, grace)
    return [c for c in contracts if c.in_force(period, tz) and c.recorded_at >= due]


@dataclass(frozen=True)
class Waiting:
    """An ended, unclosed period the scheduler leaves to the operator, and why."""

    period: Period
    reason: str
    why: str
    contract_ids: tuple[str, ...] = ()


def waiting_periods(
    contracts: list[SignedContract], closed: Iterable[Period], now: datetime, tz: Zone, grace: timedelta
) -> list[Waiting]:
    """Every due, unclosed period with a contract in force that the scheduler will not close, oldest first."""
    if not contracts:
        return []
    done = set(closed)
    last = latest_due(now, tz, grace)
    first = max(min(period_of(c.start, tz) for c in contracts), last.shift(-MAX_MONTHS_BACK))
    found = []
    period = first
    while period <= last:
        running = [c for c in contracts if c.in_force(period, tz)]
        if period not in done and running:
            late = backdated(running, period, tz, grace)
            if late:
                names = ", ".join(f"{c.contract_id} (recorded {instant_to_json(c.recorded_at)})" for c in late)
                found.append(
                    Waiting(
                        period,
                        "backdated",
                        f"contract(s) {names} recorded after the period was due at "
                        f"{instant_to_json(due_at(period, tz, grace))}: usage may still be on its way",
                        tuple(c.contract_id for c in late),
                    )
                )
            elif period < last:
                found.append(
                    Waiting(
                        period,
                        "older",
                        f"older than {last}, the latest period due: the scheduler "
                        "closes only a tenant's most recent ended period",
                    )
                )
        period = period.next()
    return found
