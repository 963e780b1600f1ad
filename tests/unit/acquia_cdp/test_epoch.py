"""Acquia CDP timestamps: exact conversion to epoch seconds or milliseconds, the other unit refused."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_monetate.acquia_cdp._epoch import parse_timestamp_unit, to_epoch

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# The span in which epoch numbers are accepted in both units (see _epoch._EPOCH_SPANS).
FIRST, LAST = datetime(1973, 3, 4, tzinfo=timezone.utc), datetime(2286, 11, 19, tzinfo=timezone.utc)
moments = st.datetimes(min_value=FIRST.replace(tzinfo=None), max_value=LAST.replace(tzinfo=None),
                       timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=5, minutes=30)),
                                                  timezone(timedelta(hours=-8))]))


def exact_epoch(moment: datetime, unit: str) -> int:
    """Floor of the moment in ``unit``, in integer arithmetic (no float rounding)."""
    delta = moment - EPOCH
    micros = (delta.days * 86400 + delta.seconds) * 10**6 + delta.microseconds
    return micros // (10**6 if unit == "s" else 10**3)


# -- timestamps ----------------------------------------------------------------------------

@given(moments, st.sampled_from(["s", "ms"]))
def test_datetimes_convert_exactly_to_the_unit(moment, unit):
    expected = exact_epoch(moment, unit)
    assert to_epoch(moment, unit) == expected
    assert to_epoch(moment.isoformat(), unit) == expected
    assert to_epoch(pendulum.instance(moment), unit) == expected
    naive_utc = moment.astimezone(timezone.utc).replace(tzinfo=None)
    assert to_epoch(naive_utc, unit) == expected  # naive means UTC


@given(moments, st.sampled_from(["s", "ms"]))
def test_converted_values_pass_again_unchanged_and_fail_in_the_other_unit(moment, unit):
    value = to_epoch(moment, unit)
    assert to_epoch(value, unit) == value
    assert to_epoch(str(value), unit) == value
    with pytest.raises(ValueError, match="-digit epoch number"):
        to_epoch(value, "ms" if unit == "s" else "s")


@given(st.integers(10**12, 10**13 - 1))
def test_thirteen_digits_where_seconds_are_expected_is_an_error(value):
    with pytest.raises(ValueError, match=r"13-digit .* seconds .* looks like milliseconds"):
        to_epoch(value, "s")
    assert to_epoch(value, "ms") == value


@given(st.integers(10**9, 10**10 - 1))
def test_ten_digits_where_milliseconds_are_expected_is_an_error(value):
    with pytest.raises(ValueError, match=r"10-digit .* milliseconds .* looks like seconds"):
        to_epoch(value, "ms")
    assert to_epoch(value, "s") == value


def test_timestamp_inputs_and_refusals():
    assert to_epoch("2024-05-01T12:00:00Z", "s") == 1714564800
    assert to_epoch("2024-05-01T14:00:00+02:00", "ms") == 1714564800000
    assert to_epoch("20240501T120000Z", "s") == 1714564800  # basic format, read by pendulum
    assert to_epoch(date(2024, 5, 1), "s") == 1714521600
    assert to_epoch(1714564800.5, "s") == 1714564800.5 and to_epoch(Decimal("1714564800.0"), "s") == 1714564800
    assert to_epoch("", "s") is None and to_epoch(None, "ms") is None
    for bad in ("20240501", 20240501, -1, "yesterday", "12:00", math.inf):
        with pytest.raises(ValueError):
            to_epoch(bad, "s")
    for bad in (True, [1714564800], object()):
        with pytest.raises(TypeError):
            to_epoch(bad, "s")


def test_timestamp_unit_names():
    assert [parse_timestamp_unit(u) for u in (None, "", "s", "seconds", "MS", "milliseconds")] == [
        "s", "s", "s", "s", "ms", "ms"]
    with pytest.raises(ValueError, match=r"'s' .* or 'ms'"):
        parse_timestamp_unit("us")
