"""HTTP client for the admin API, for an emulator running in another process (the demo).

It mirrors the :class:`~airflow_provider_monetate.testing.server.Emulator` methods.
Standard library only.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

__all__ = ["ClockClient", "EmulatorAdminError", "EmulatorClient"]


class EmulatorAdminError(RuntimeError):
    """The admin API answered with an error.

    :param status: HTTP status.
    :param message: the ``error`` text.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class ClockClient:
    """``emulator.clock`` over HTTP."""

    def __init__(self, client: EmulatorClient) -> None:
        self._client = client

    def now(self) -> float:
        """Current emulator time."""
        return self._client._call("GET", "clock")["now"]

    def advance(self, seconds: float) -> float:
        """Move the clock; returns the new time."""
        return self._client._call("POST", "clock", {"advance": seconds})["now"]

    def set(self, epoch: float) -> float:
        """Set the clock; returns the new time."""
        return self._client._call("POST", "clock", {"set": epoch})["now"]


class EmulatorClient:
    """Control a running emulator through ``/__emulator__/``.

    :param url: the emulator base URL, e.g. ``http://127.0.0.1:8765``.
    :param timeout: per-call timeout in seconds.
    """

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.clock = ClockClient(self)

    def _call(self, method: str, path: str, body: dict | None = None, query: dict | None = None) -> Any:
        url = f"{self.url}/__emulator__/{path}"
        if query:
            url += "?" + urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("error", "")
            except ValueError:
                message = exc.reason
            raise EmulatorAdminError(exc.code, message) from None

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Poll ``/__emulator__/health`` until the emulator answers.

        :raises TimeoutError: it did not answer in time.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._call("GET", "health")
                return
            except (OSError, EmulatorAdminError):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"emulator at {self.url} not ready after {timeout} s") from None
                time.sleep(0.05)

    def inject(
        self,
        route: str,
        kind: str,
        count: int = 1,
        status: int | None = None,
        seconds: float | None = None,
        retry_after: int | None = None,
    ) -> list[dict]:  # Emulator.inject's parameters, spelt out on purpose: the client mirrors it
        """Inject a fault (see ``Emulator.inject``); returns the active faults."""
        body = {
            "route": route,
            "kind": kind,
            "count": count,
            "status": status,
            "seconds": seconds,
            "retry_after": retry_after,
        }
        return self._call("POST", "faults", body)["faults"]

    def clear_faults(self) -> None:
        """Remove every fault."""
        self._call("DELETE", "faults")

    def faults(self) -> list[dict]:
        """Active faults."""
        return self._call("GET", "faults")["faults"]

    def counters(self) -> dict[str, dict]:
        """Per-route counters (status keys converted back to int)."""
        counters = self._call("GET", "counters")["counters"]
        for entry in counters.values():
            entry["statuses"] = {int(k): v for k, v in entry["statuses"].items()}
        return counters

    def in_flight(self) -> dict[str, dict[str, int]]:
        """Per route: ``in_flight`` now and ``peak`` (most at once since the last reset)."""
        return self._call("GET", "in-flight")["in_flight"]

    def reset_peaks(self) -> dict[str, dict[str, int]]:
        """Start measuring peaks afresh (data, counters and the log stay); returns :meth:`in_flight`."""
        return self._call("POST", "in-flight/reset")["in_flight"]

    def requests(self) -> list[dict]:
        """The request log (secrets redacted)."""
        return self._call("GET", "requests")["requests"]

    def reset(self, users: bool = False) -> None:
        """Clear data, faults, counters, log, clock and config (and users, if asked)."""
        self._call("POST", "reset", {"users": users})

    def expire_tokens(self, service: str = "all") -> int:
        """Expire live tokens now (``monetate``, ``cdp`` or ``all``); returns how many."""
        return self._call("POST", "expire-tokens", {"service": service})["expired"]

    def configure(self, **settings: Any) -> dict:
        """Change settings (see ``Emulator.configure``); returns the configuration."""
        return self._call("POST", "config", {k: v for k, v in settings.items() if v is not None})

    def config(self) -> dict:
        """The current configuration."""
        return self._call("GET", "config")

    def set_readings(self, chosen: dict[str, str]) -> dict:
        """Choose readings of open points (``{"cdp.expires_in": "countdown"}``); returns all points."""
        return self._call("POST", "readings", chosen)

    def readings(self) -> dict:
        """Every open point: the reading in force, the readings, what the documents say."""
        return self._call("GET", "readings")

    def add_monetate_user(self, username: str, public_key_pem: str, shortname: str) -> None:
        """Register a Monetate API user."""
        self._call(
            "POST", "monetate/users", {"username": username, "public_key_pem": public_key_pem, "shortname": shortname}
        )

    def deactivate_monetate_key(self, username: str) -> None:
        """Deactivate a Monetate API user's key."""
        self._call("POST", f"monetate/users/{username}/deactivate")

    def add_cdp_user(self, login: str, password: str, environment: str = "CS", tenant_id: str = "1234",
                     scheme: str = "a1user") -> None:
        """Register a CDP integration user (``scheme="a1webtag"``: a webtag service user)."""
        body = {"login": login, "password": password, "environment": environment, "tenant_id": str(tenant_id),
                "scheme": scheme}
        self._call("POST", "cdp/users", body)

    def issue_cdp_token(self, login: str) -> str:
        """Create a CDP token for ``login`` (limits apply)."""
        return self._call("POST", "cdp/tokens", {"login": login})["access_token"]

    def monetate_rows(self, shortname: str, dataset: str, environment: str = "production") -> list[dict]:
        """Rows stored in a Monetate dataset."""
        query = {"shortname": shortname, "dataset": dataset, "environment": environment}
        return self._call("GET", "monetate/rows", query=query)["rows"]

    def privacy_status(self, shortname: str, customer_id: str, environment: str = "production") -> str:
        """PENDING, FOUND or NOT_FOUND."""
        query = {"shortname": shortname, "customer_id": customer_id, "environment": environment}
        return self._call("GET", "monetate/privacy", query=query)["status"]

    def cdp_records(self, tenant_id: str, entity: str) -> list[dict]:
        """Stored CDP records of one entity."""
        return self._call("GET", "cdp/records", query={"tenant_id": str(tenant_id), "entity": entity})["records"]

    def cdp_stats(self) -> dict:
        """CDP statistics (KFK_0 count, tokens, records, soft deletes)."""
        return self._call("GET", "cdp/stats")
