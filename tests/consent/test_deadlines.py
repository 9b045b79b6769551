"""Art. 12(3) time limits and ISO 8601 periods (pure core)."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent.deadlines import (
    Duration,
    add_months,
    days_left,
    extended_due,
    local_date,
    response_due,
)
from consent.errors import DeadlineError


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (date(2026, 3, 5), date(2026, 4, 5)),  # EDPB Guidelines 01/2022 example
        (date(2026, 1, 31), date(2026, 2, 28)),  # no 31 February: last day of the month
        (date(2028, 1, 31), date(2028, 2, 29)),  # leap year
        (date(2026, 3, 31), date(2026, 4, 30)),
        (date(2026, 12, 15), date(2027, 1, 15)),
        (date(2026, 8, 31), date(2026, 9, 30)),
    ],
)
def test_one_month(received: date, due: date) -> None:
    assert response_due(received) == due


def test_extension_up_to_two_months_notified_within_the_first() -> None:
    received = date(2026, 1, 31)
    assert extended_due(received=received, months=2, notified=date(2026, 2, 28), reasons="x") == (
        date(2026, 4, 30)
    )
    assert extended_due(received=received, months=1, notified=received, reasons="x") == date(
        2026, 3, 31
    )
    with pytest.raises(DeadlineError, match="within one month"):
        extended_due(received=received, months=1, notified=date(2026, 3, 1), reasons="x")
    with pytest.raises(DeadlineError, match="1 or 2 further months"):
        extended_due(received=received, months=3, notified=received, reasons="x")
    with pytest.raises(DeadlineError, match="reasons"):
        extended_due(received=received, months=1, notified=received, reasons="  ")
    with pytest.raises(DeadlineError, match="before the request"):
        extended_due(received=received, months=1, notified=date(2026, 1, 1), reasons="x")


def test_local_date_is_the_paris_calendar_day() -> None:
    late_evening = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)  # 00:30 on 1 February in Paris
    assert local_date(late_evening, "Europe/Paris") == date(2026, 2, 1)
    assert response_due(local_date(late_evening, "Europe/Paris")) == date(2026, 3, 1)
    assert days_left(date(2026, 3, 1), date(2026, 2, 27)) == 2
    assert days_left(date(2026, 3, 1), date(2026, 3, 3)) == -2


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2200, 12, 31)), st.integers(0, 40))
def test_add_months_properties(day: date, months: int) -> None:
    result = add_months(day, months)
    assert (result.year * 12 + result.month) - (day.year * 12 + day.month) == months
    assert result.day <= day.day
    if result.day < day.day:  # clamped: it is the last day of its month
        assert result.day == calendar.monthrange(result.year, result.month)[1]


@pytest.mark.parametrize(
    ("text", "normal"),
    [("P5Y", "P5Y"), ("P13M", "P13M"), ("P2W", "P14D"), ("P1Y6M10D", "P1Y6M10D"), ("P0D", "P0D")],
)
def test_durations(text: str, normal: str) -> None:
    assert str(Duration.parse(text)) == normal


def test_duration_arithmetic() -> None:
    start = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
    assert Duration.parse("P1M").after(start) == datetime(2026, 2, 28, 9, 0, tzinfo=UTC)
    assert Duration.parse("P1Y").after(start) == datetime(2027, 1, 31, 9, 0, tzinfo=UTC)
    assert Duration.parse("P3Y").before(datetime(2029, 2, 28, tzinfo=UTC)) == datetime(
        2026, 2, 28, tzinfo=UTC
    )
    assert Duration.parse("P1M10D").before(datetime(2026, 3, 10, tzinfo=UTC)) == datetime(
        2026, 1, 28, tzinfo=UTC
    )
