"""The business clock: real time plus an offset, moved from Python or over HTTP."""

from __future__ import annotations

import time

import pytest
import requests

from airflow_provider_monetate.testing import Clock, EmulatorClient
from tests.unit.testing.helpers import TIMEOUT


def test_clock_python_and_http(emulator):
    client = EmulatorClient(emulator.url)
    assert client.clock.now() == pytest.approx(time.time(), abs=2)
    assert client.clock.advance(3600) == pytest.approx(time.time() + 3600, abs=2)
    assert emulator.clock.now() == pytest.approx(time.time() + 3600, abs=2)
    assert client.clock.set(2_000_000_000) == pytest.approx(2_000_000_000, abs=2)
    raw = requests.get(f"{emulator.url}/__emulator__/clock", timeout=TIMEOUT).json()
    assert raw["now"] == pytest.approx(2_000_000_000, abs=2)
    assert emulator.clock.set(1_900_000_000) == pytest.approx(1_900_000_000, abs=1)
    assert requests.post(f"{emulator.url}/__emulator__/clock", json={}, timeout=TIMEOUT).status_code == 400


def test_clock_offset_reset_and_snapshot():
    clock = Clock()
    assert clock.offset == 0
    assert clock.advance(60) == pytest.approx(time.time() + 60, abs=1)
    assert clock.advance(-90) == pytest.approx(time.time() - 30, abs=1)
    assert clock.offset == pytest.approx(-30)
    snapshot = clock.snapshot()
    assert snapshot["now"] == pytest.approx(snapshot["real"] + snapshot["offset"])
    clock.set(86_400)
    assert clock.now() == pytest.approx(86_400, abs=1)
    clock.reset()
    assert clock.offset == 0
