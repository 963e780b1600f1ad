"""Requests in flight per route, and the peak: counted from request read to answer written."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from airflow_provider_monetate.testing import ROUTES, EmulatorClient
from airflow_provider_monetate.testing.metrics import InFlight
from tests.unit.testing.helpers import ATTRIBUTE_FIELDS


def test_track_counts_while_the_block_runs_and_keeps_the_peak():
    in_flight = InFlight()
    with in_flight.track("monetate.data"), in_flight.track("monetate.data"), in_flight.track("cdp.tracker"):
        assert in_flight.snapshot()["monetate.data"] == {"in_flight": 2, "peak": 2}
    with pytest.raises(RuntimeError), in_flight.track("monetate.data"):
        raise RuntimeError("a failing answer still leaves")
    with in_flight.track(None):  # admin calls
        pass
    snapshot = in_flight.snapshot()
    assert snapshot["monetate.data"] == {"in_flight": 0, "peak": 2}
    assert snapshot["cdp.tracker"] == {"in_flight": 0, "peak": 1}
    assert set(snapshot) == set(ROUTES)


def test_reset_peaks_restarts_from_what_is_in_flight_now():
    in_flight = InFlight()
    with in_flight.track("monetate.data"), in_flight.track("monetate.data"):
        pass
    with in_flight.track("monetate.data"):
        in_flight.reset_peaks()
        assert in_flight.snapshot()["monetate.data"] == {"in_flight": 1, "peak": 1}
    in_flight.reset_peaks()
    assert in_flight.snapshot()["monetate.data"] == {"in_flight": 0, "peak": 0}


def wait_until_quiet(emulator) -> None:
    """Until the server has nothing in flight. A client has its answer a moment before the server's
    thread leaves the request (the count drops after the answer is written); an earlier test's request,
    given up on by its client, may still be waiting out a latency fault."""
    deadline = time.monotonic() + 60
    while any(entry["in_flight"] for entry in emulator.in_flight().values()):
        assert time.monotonic() < deadline, f"requests still in flight: {emulator.in_flight()}"
        time.sleep(0.01)


@pytest.fixture
def quiet(emulator):
    """The session emulator with nothing in flight and every peak at zero."""
    wait_until_quiet(emulator)
    emulator.reset_peaks()
    return emulator


def test_concurrent_posts_show_as_the_routes_peak(quiet, api):
    emulator = quiet
    api.create_schema("attrs", ATTRIBUTE_FIELDS)
    emulator.inject("monetate.data", "latency", seconds=0.5)  # every POST stays open half a second
    start = threading.Barrier(3)

    def post(n: int) -> int:
        start.wait()
        return api.post_rows("attrs", [{"customer_id": f"C{n}"}]).status_code

    with ThreadPoolExecutor(3) as pool:
        assert list(pool.map(post, range(3))) == [201, 201, 201]
    wait_until_quiet(emulator)
    in_flight = emulator.in_flight()
    assert in_flight["monetate.data"] == {"in_flight": 0, "peak": 3}
    assert in_flight["monetate.schema"]["peak"] == 1
    assert in_flight["cdp.tracker"] == {"in_flight": 0, "peak": 0}


def test_one_after_another_is_a_peak_of_one_and_slow_answers_count_until_sent(quiet, api):
    emulator = quiet
    api.create_schema("attrs", ATTRIBUTE_FIELDS)
    emulator.reset_peaks()
    for n in range(3):
        assert api.post_rows("attrs", [{"customer_id": f"C{n}"}]).status_code == 201
    assert emulator.in_flight()["monetate.data"]["peak"] == 1
    emulator.inject("monetate.data", "slow", count=2, seconds=0.5)  # answered, then held before sending
    with ThreadPoolExecutor(2) as pool:
        codes = list(pool.map(lambda n: api.post_rows("attrs", [{"customer_id": f"S{n}"}]).status_code, range(2)))
    assert codes == [201, 201]
    assert emulator.in_flight()["monetate.data"]["peak"] == 2


def test_the_admin_api_and_client_show_and_reset_peaks(quiet, api):
    emulator = quiet
    api.create_schema("attrs", ATTRIBUTE_FIELDS)
    api.post_rows("attrs", [{"customer_id": "C1"}])
    wait_until_quiet(emulator)
    client = EmulatorClient(emulator.url)
    assert client.in_flight()["monetate.data"] == {"in_flight": 0, "peak": 1}
    assert requests.get(f"{emulator.url}/__emulator__/in-flight", timeout=10).json()["in_flight"] == client.in_flight()
    assert client.reset_peaks()["monetate.data"] == {"in_flight": 0, "peak": 0}
    client.counters()  # admin calls are never counted
    assert all(entry["peak"] == 0 for entry in client.in_flight().values())
    api.post_rows("attrs", [{"customer_id": "C2"}])
    wait_until_quiet(emulator)  # else reset() starts the peak from the request still leaving
    emulator.reset()
    assert emulator.in_flight()["monetate.data"]["peak"] == 0
