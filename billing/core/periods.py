"""Billing periods and calendar arithmetic in the tenant's timezone (SPEC §2, §4, §5).

A billing period is a calendar month in the tenant's IANA timezone (default Asia/Shanghai),
written `YYYY-MM`. Its bounds are returned as aware UTC datetimes, `[start, end)`.

Calendar arithmetic is done on local wall time and then resolved to an instant: adding a month to
2026-01-31 gives the last day of February; a wall time that does not exist (a DST gap) resolves
with the offset in force before the gap, i.e. it moves forward by the gap's length (PEP 495 fold=0).

Fractions of a month (the `f` of SPEC §5) are exact `Fraction`s of microseconds, so money built on
them is rounded once, at the end.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from fractions import Fraction
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kashi.errors import ValidationFailed

DEFAULT_TIMEZONE = "Asia/Shanghai"

_PERIOD_SHAPE = re.compile(r"(\d{4})-(\d{2})")

Zone = tzinfo | str


def zone(tz: Zone) -> tzinfo:
    """A tzinfo from an IANA name ("Asia/Shanghai") or a tzinfo, unchanged."""
    if isinstance(tz, tzinfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:
        raise ValidationFailed.of("timezone", f"unknown IANA timezone {tz!r}") from error


def require_aware(instant: datetime, field: str = "instant") -> datetime:
    """`instant` converted to UTC; naive datetimes are refused (SPEC §2: instants carry an offset)."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValidationFailed.of(field, "must carry a UTC offset (RFC 3339)")
    return instant.astimezone(UTC)


def instant_to_json(instant: datetime) -> str:
    """An aware datetime as ISO 8601 in UTC with a "Z": "2026-09-14T16:00:00Z"."""
    return require_aware(instant).isoformat().replace("+00:00", "Z")


def _resolve(wall: datetime, tz: tzinfo) -> datetime:
    """A naive local wall time in `tz` as a UTC instant; gaps move forward, folds take the first."""
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month, `YYYY-MM`; compared chronologically."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 1 <= self.year <= 9998:
            raise ValidationFailed.of("period", f"{self.year:04d}-{self.month:02d} is not a month")

    @classmethod
    def parse(cls, text: object, field: str = "period") -> Period:
        """`Period.parse("2026-10")`; anything but `YYYY-MM` with a month 01–12 raises ValidationFailed."""
        match = _PERIOD_SHAPE.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise ValidationFailed.of(field, f"{text!r} is not a period of the form YYYY-MM")
        year, month = int(match[1]), int(match[2])
        if not 1 <= month <= 12 or year < 1:
            raise ValidationFailed.of(field, f"{text!r} has no month {month:02d}")
        return cls(year, month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def shift(self, months: int) -> Period:
        """The period `months` later (earlier when negative)."""
        index = self.year * 12 + (self.month - 1) + months
        return Period(index // 12, index % 12 + 1)

    def next(self) -> Period:
        return self.shift(1)

    def prev(self) -> Period:
        return self.shift(-1)

    def start(self, tz: Zone) -> datetime:
        """The first instant of the month in `tz`, as an aware UTC datetime."""
        return _resolve(datetime(self.year, self.month, 1), zone(tz))

    def end(self, tz: Zone) -> datetime:
        """The first instant after the month in `tz` (exclusive bound), as an aware UTC datetime."""
        return self.next().start(tz)

    def contains(self, instant: datetime, tz: Zone) -> bool:
        return self.start(tz) <= instant < self.end(tz)


def period_of(instant: datetime, tz: Zone) -> Period:
    """The billing period holding `instant` in `tz`."""
    local = require_aware(instant).astimezone(zone(tz))
    return Period(local.year, local.month)


def months_between(first: Period, last: Period) -> int:
    """How many months `last` is after `first` (negative when before)."""
    return (last.year - first.year) * 12 + (last.month - first.month)


def periods_overlapping(start: datetime, end: datetime, tz: Zone) -> list[Period]:
    """The periods that share at least one instant with `[start, end)`, in order; [] when empty."""
    if end <= start:
        return []
    first = period_of(start, tz)
    last = period_of(end - timedelta(microseconds=1), tz)
    return [first.shift(n) for n in range(months_between(first, last) + 1)]


@lru_cache(maxsize=8192)
def add_months(instant: datetime, months: int, tz: Zone) -> datetime:
    """`instant` plus `months` calendar months in `tz`, as an aware UTC datetime (SPEC §4).

    Memoised (it is pure): rating asks for every contract's term end once per usage row.

    The local wall time is kept; a day past the month's end clamps to its last day
    (2026-01-31 + 1 month → 2026-02-28). DST is resolved after the arithmetic, so 09:00 stays
    09:00 local across a change of offset.
    """
    tz = zone(tz)
    local = require_aware(instant).astimezone(tz)
    index = local.year * 12 + (local.month - 1) + months
    year, month = index // 12, index % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return _resolve(local.replace(tzinfo=None, year=year, month=month, day=day), tz)


def add_days(instant: datetime, days: int, tz: Zone) -> datetime:
    """`instant` plus `days` calendar days of local wall time in `tz` (notice periods, SPEC §6)."""
    tz = zone(tz)
    local = require_aware(instant).astimezone(tz).replace(tzinfo=None)
    return _resolve(local + timedelta(days=days), tz)


def _micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def seconds_in(period: Period, tz: Zone) -> int:
    """Seconds in the month in `tz`: 2,678,400 for a 31-day month, one hour less or more across DST."""
    return int((period.end(tz) - period.start(tz)).total_seconds())


def overlap(start: datetime, end: datetime | None, window_start: datetime, window_end: datetime):
    """`[start, end) ∩ [window_start, window_end)` as a pair, or None when empty; end None = open."""
    low = max(start, window_start)
    high = window_end if end is None else min(end, window_end)
    return (low, high) if low < high else None


def active_fraction(active_start: datetime, active_end: datetime | None, period: Period, tz: Zone) -> Fraction:
    """The `f` of SPEC §5: seconds of `[active_start, active_end)` inside `period` / seconds in `period`.

    Exact (microsecond resolution), 0 when the interval misses the period, 1 when it covers it.
    `active_end` None means open-ended.
    """
    start, end = period.start(tz), period.end(tz)
    span = overlap(require_aware(active_start), active_end and require_aware(active_end), start, end)
    if span is None:
        return Fraction(0)
    return Fraction(_micros(span[1] - span[0]), _micros(end - start))


def period_due(now: datetime, tz: str, grace: timedelta) -> Period | None:
    """The period the scheduler should close at `now` in `tz`: the most recent ended one, once its end
    plus `grace` has passed; None before that. Older periods are never due (SPEC §7)."""
    latest = period_of(now, tz).prev()
    return latest if now >= latest.end(tz) + grace else None
