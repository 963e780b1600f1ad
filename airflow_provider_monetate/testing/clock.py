"""The emulator's business clock: real time plus an adjustable offset.

Token expiry, the Monetate privacy "nightly batch" and the spot-check rate limit all read
this clock, so a test can jump 180 days ahead without waiting. JWT ``iat`` checks do not:
clients sign with the real wall clock, so the auth endpoint compares ``iat`` with
:func:`time.time` even when this clock has been advanced.
"""

from __future__ import annotations

import threading
import time

__all__ = ["Clock"]


class Clock:
    """Emulator time = real time + offset (seconds since the epoch, UTC)."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Current emulator time.

        :return: seconds since the epoch.
        """
        return time.time() + self._offset

    @property
    def offset(self) -> float:
        """Seconds the emulator clock runs ahead of (or behind) the real clock."""
        return self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock forward (or backward, if negative).

        :param seconds: how far to move the clock.
        :return: the new emulator time.
        """
        with self._lock:
            self._offset += float(seconds)
        return self.now()

    def set(self, epoch: float) -> float:
        """Make the clock read ``epoch`` now; it keeps ticking from there.

        :param epoch: the wanted current time, seconds since the epoch.
        :return: the new emulator time.
        """
        with self._lock:
            self._offset = float(epoch) - time.time()
        return self.now()

    def reset(self) -> None:
        """Go back to real time."""
        with self._lock:
            self._offset = 0.0

    def snapshot(self) -> dict:
        """Clock state as JSON-friendly data (``now``, ``offset``, ``real``)."""
        real = time.time()
        return {"now": real + self._offset, "offset": self._offset, "real": real}
