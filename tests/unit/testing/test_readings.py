"""Open points of the documents as switches: declared once, chosen from Python, HTTP, the CLI or a marker."""

from __future__ import annotations

import pytest

from airflow_provider_monetate.testing import EmulatorClient
from airflow_provider_monetate.testing.readings import OPEN_POINTS, OpenPoint, Readings, declare, readings_of


@pytest.fixture
def point(monkeypatch):
    """A point declared for the test only (removed afterwards)."""
    sample = OpenPoint("test.sample", ("literal", "other"), "the seed says one thing, the spec another")
    monkeypatch.setitem(OPEN_POINTS, sample.name, sample)
    return sample


def test_an_unset_point_reads_its_default_and_a_choice_sticks_until_reset(point):
    readings = Readings()
    assert readings.get(point.name) == "literal" == point.default
    readings.set(point.name, "other")
    assert readings.get(point.name) == "other"
    readings.reset()
    assert readings.get(point.name) == "literal"


def test_unknown_points_and_readings_are_refused_naming_the_choices(point):
    readings = Readings()
    with pytest.raises(ValueError, match="choose one of literal, other"):
        readings.set(point.name, "guess")
    with pytest.raises(ValueError, match=r"unknown open point 'test\.nope'"):
        readings.set_many({point.name: "other", "test.nope": "x"})
    assert readings.get(point.name) == "literal"  # nothing changed


def test_a_point_is_declared_once_with_at_least_two_readings(point):
    assert declare(point.name, point.readings, point.question) == point
    with pytest.raises(ValueError, match="declared twice"):
        declare(point.name, ("literal", "third"), point.question)
    with pytest.raises(ValueError, match="two or more"):
        declare("test.single", ("only",), "")
    assert readings_of(point.name) == ("literal", "other")


def test_readings_over_http_and_reset_by_the_fixture(emulator, point):
    client = EmulatorClient(emulator.url)
    assert client.readings()[point.name]["reading"] == "literal"
    assert client.set_readings({point.name: "other"})[point.name]["reading"] == "other"
    assert emulator.readings.get(point.name) == "other"
    emulator.reset()
    assert emulator.readings.get(point.name) == "literal"


@pytest.mark.emulator_readings({"test.sample": "other"})
def test_the_marker_chooses_readings_for_the_emulator_fixture(point, request):
    handle = request.getfixturevalue("emulator")  # after the point fixture declared the point
    assert handle.readings.get("test.sample") == "other"
