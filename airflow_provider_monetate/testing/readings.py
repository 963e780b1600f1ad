"""Where the vendor documents leave a point open, each plausible reading is a switch.

We can never call the real Monetate or Acquia hosts, so the provider meets them first in a
user's production. Every point the documents leave open or contradict is declared here with
:func:`declare` (by the service module whose behaviour it changes): its name, its readings
(the first is the default: the most literal reading of the seed documents) and what the
documents say. A service asks ``readings.get(name)``; a test sets a reading with
``emulator.set_reading(name, value)`` or the ``emulator_readings`` marker, the CLI with
``--reading name=value``, another process with ``POST /__emulator__/readings``. The provider
must be right under every reading, and its tests run under each.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["OPEN_POINTS", "OpenPoint", "Readings", "declare", "readings_of"]


@dataclass(frozen=True)
class OpenPoint:
    """One point the documents leave open.

    :param name: ``<service>.<point>``, e.g. ``cdp.expires_in``.
    :param readings: the plausible readings; the first is the default.
    :param question: what the documents say, and where they leave it open.
    """

    name: str
    readings: tuple[str, ...]
    question: str

    @property
    def default(self) -> str:
        return self.readings[0]


#: Every open point, by name (filled by the service modules as they are imported).
OPEN_POINTS: dict[str, OpenPoint] = {}


def declare(name: str, readings: tuple[str, ...], question: str) -> OpenPoint:
    """Declare an open point (once per name); returns it, for the declaring module to keep.

    :raises ValueError: a second, different declaration of the same name, or fewer than two readings.
    """
    point = OpenPoint(name, tuple(readings), question)
    if len(point.readings) < 2 or len(set(point.readings)) != len(point.readings):
        raise ValueError(f"open point {name!r} needs two or more distinct readings")
    if OPEN_POINTS.setdefault(name, point) != point:
        raise ValueError(f"open point {name!r} is declared twice, differently")
    return point


def readings_of(name: str) -> tuple[str, ...]:
    """The readings of an open point, for ``pytest.mark.parametrize``."""
    _ensure_declared()
    return OPEN_POINTS[name].readings


def _ensure_declared() -> None:
    # The services declare their points when imported; importing them here makes the table
    # complete for callers (the CLI, tests) that have not created an emulator yet.
    from airflow_provider_monetate.testing import acquia_cdp, monetate  # noqa: F401


class Readings:
    """The reading in force for every open point; thread-safe. Unset points read their default."""

    def __init__(self) -> None:
        self._chosen: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> str:
        """The reading in force for ``name``.

        :raises KeyError: an undeclared point (a typo in a service).
        """
        with self._lock:
            chosen = self._chosen.get(name)
        return chosen if chosen is not None else OPEN_POINTS[name].default

    def set(self, name: str, reading: str) -> None:
        """Choose a reading.

        :raises ValueError: an unknown point or reading (the message lists the choices).
        """
        self.set_many({name: reading})

    def set_many(self, chosen: Mapping[str, str]) -> None:
        """Choose several readings; none is changed when one is invalid.

        :raises ValueError: an unknown point or reading (the message lists the choices).
        """
        for name, reading in chosen.items():
            _validate(name, reading)
        with self._lock:
            self._chosen.update(chosen)

    def reset(self) -> None:
        """Back to every default."""
        with self._lock:
            self._chosen.clear()

    def snapshot(self) -> dict[str, dict]:
        """Every point: the reading in force, the readings, what the documents say."""
        _ensure_declared()
        return {name: {"reading": self.get(name), "readings": list(point.readings), "question": point.question}
                for name, point in sorted(OPEN_POINTS.items())}


def _validate(name: str, reading: str) -> None:
    _ensure_declared()
    point = OPEN_POINTS.get(name)
    if point is None:
        raise ValueError(f"unknown open point {name!r}; known: {', '.join(sorted(OPEN_POINTS))}")
    if reading not in point.readings:
        raise ValueError(f"{name} has no reading {reading!r}; choose one of {', '.join(point.readings)}")
