"""Time limits: Art. 12(3) response deadlines, retention and validity periods.

GDPR Art. 12(3): "The controller shall provide information on action taken on a request
under Articles 15 to 22 to the data subject without undue delay and in any event within one
month of receipt of the request. That period may be extended by two further months where
necessary, taking into account the complexity and number of the requests. The controller
shall inform the data subject of any such extension within one month of receipt of the
request, together with the reasons for the delay."

Months are calendar months counted as Regulation (EEC, Euratom) No 1182/71 Art. 3(2)(c)
says (and EDPB Guidelines 01/2022 §5.3 recall): the period ends on the day of the last month
bearing the same number as the day of receipt, or, when that month has no such day, on its
last day (31 January + 1 month = 28 or 29 February). Dates are the controller's local
calendar dates (Europe/Paris by default). The rule of Art. 3(4) that moves an end falling on
a Saturday, Sunday or public holiday to the next working day is deliberately *not* applied:
the earlier date is always a compliant target, and holiday calendars differ (Alsace-Moselle).

Retention and consent validity periods are ISO 8601 durations restricted to years, months,
weeks and days (``P5Y``, ``P6M``, ``P13M``, ``P30D``, ``P2W``) — hours would be meaningless
for a register. Pure module: the caller passes dates and times.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from consent.errors import DeadlineError, DurationError

__all__ = [
    "MAX_EXTENSION_MONTHS",
    "Duration",
    "add_months",
    "days_left",
    "extended_due",
    "local_date",
    "response_due",
]

#: Art. 12(3): "extended by two further months".
MAX_EXTENSION_MONTHS = 2

_DURATION = re.compile(r"^P(?:(\d{1,3})Y)?(?:(\d{1,4})M)?(?:(\d{1,3})W)?(?:(\d{1,5})D)?$")


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, clamped to the end of a shorter month."""
    if months < 0:
        raise ValueError("months must not be negative")
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True, slots=True)
class Duration:
    """An ISO 8601 duration of years, months, weeks and days (parsed, then normalised)."""

    years: int = 0
    months: int = 0
    days: int = 0

    def __post_init__(self) -> None:
        if min(self.years, self.months, self.days) < 0:
            raise DurationError("a duration cannot be negative")

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Parse ``PnYnMnWnD`` (at least one part; no time part)."""
        match = _DURATION.match(text) if isinstance(text, str) else None
        if match is None or text == "P":
            raise DurationError(
                f"{text!r} is not an ISO 8601 duration of years, months, weeks and days "
                "(e.g. P5Y, P13M, P30D)"
            )
        years, months, weeks, days = (int(part) if part else 0 for part in match.groups())
        return cls(years=years, months=months, days=weeks * 7 + days)

    @property
    def is_zero(self) -> bool:
        return self.years == self.months == self.days == 0

    def __str__(self) -> str:
        if self.is_zero:
            return "P0D"
        parts = [f"{n}{unit}" for n, unit in ((self.years, "Y"), (self.months, "M")) if n]
        if self.days:
            parts.append(f"{self.days}D")
        return "P" + "".join(parts)

    def after(self, moment: datetime) -> datetime:
        """``moment`` plus this duration (calendar months, then days), same time of day."""
        shifted = add_months(moment.date(), self.years * 12 + self.months)
        return datetime.combine(shifted, moment.timetz()) + timedelta(days=self.days)

    def before(self, moment: datetime) -> datetime:
        """``moment`` minus this duration (the cut-off of a retention period ending now)."""
        back = moment - timedelta(days=self.days)
        total = self.years * 12 + self.months
        index = back.year * 12 + back.month - 1 - total
        year, month = index // 12, index % 12 + 1
        day = min(back.day, calendar.monthrange(year, month)[1])
        return back.replace(year=year, month=month, day=day)


def local_date(moment: datetime, timezone: str) -> date:
    """The calendar date of an aware ``moment`` in ``timezone`` (e.g. Europe/Paris)."""
    if moment.tzinfo is None:
        raise ValueError("an aware datetime is required")
    return moment.astimezone(ZoneInfo(timezone)).date()


def response_due(received: date) -> date:
    """Art. 12(3): the last day to answer a request received on ``received``."""
    return add_months(received, 1)


def extended_due(*, received: date, months: int, notified: date, reasons: str) -> date:
    """The due date after an Art. 12(3) extension of ``months`` further months.

    Raises :class:`DeadlineError` unless 1 ≤ ``months`` ≤ 2, ``reasons`` are given, and the
    person was informed (``notified``) no later than the original due date ("within one
    month of receipt of the request").
    """
    if not 1 <= months <= MAX_EXTENSION_MONTHS:
        raise DeadlineError(
            f"Art. 12(3) allows an extension of 1 or 2 further months, not {months}"
        )
    if not reasons.strip():
        raise DeadlineError("Art. 12(3): the person must be told the reasons for the delay")
    if notified < received:
        raise DeadlineError("the extension cannot be notified before the request was received")
    if notified > response_due(received):
        raise DeadlineError(
            "Art. 12(3): an extension must be notified within one month of receipt "
            f"(by {response_due(received).isoformat()}); it is too late to extend"
        )
    return add_months(received, 1 + months)


def days_left(due: date, today: date) -> int:
    """Whole days from ``today`` to ``due`` (0 on the due date, negative when overdue)."""
    return (due - today).days
