"""HTTP plumbing: one threaded server for both APIs, fault injection, counters, request log.

Paths do not collide, so one port serves Monetate (``/api/...``), the CDP auth host
(``/token``, ``/authentication``), the CDP API host (``/v2/...``) and the admin API
(``/__emulator__/...``, never faulted, counted or logged). The services (``monetate/``,
``acquia_cdp/``) resolve paths and answer; this module decides faults, counts and logs.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from airflow_provider_monetate.testing.acquia_cdp import CdpService
from airflow_provider_monetate.testing.admin import ADMIN_PREFIX, AdminApi
from airflow_provider_monetate.testing.clock import Clock
from airflow_provider_monetate.testing.faults import Fault, FaultInjector, FaultPlan
from airflow_provider_monetate.testing.metrics import Counters, InFlight, RequestLog, loggable_headers, redact_target
from airflow_provider_monetate.testing.monetate import MonetateService
from airflow_provider_monetate.testing.readings import Readings
from airflow_provider_monetate.testing.wire import ApiError, Handler, Request, Response, Service

__all__ = ["HOST", "MONETATE_PATH_PREFIX", "Emulator"]

HOST = "127.0.0.1"  # never listen beyond loopback
MONETATE_PATH_PREFIX = "/api/"  # unmatched paths under it answer in Monetate's envelope, others in CDP's


class Emulator:
    """Local emulator of the Monetate and Acquia CDP APIs.

    :param port: TCP port on 127.0.0.1; ``0`` picks a free one.

    Use as a context manager or call :meth:`start` / :meth:`stop`. State setup and
    inspection methods work before, during and after serving.
    """

    def __init__(self, port: int = 0) -> None:
        self._requested_port = port
        self.clock = Clock()
        #: The reading in force for every point the documents leave open (see ``readings``).
        self.readings = Readings()
        self.monetate = MonetateService(self.clock, self.readings)
        self.cdp = CdpService(self.clock, self.readings)
        self.services: tuple[Service, ...] = (self.monetate, self.cdp)
        self.faults = FaultInjector()
        self._counters = Counters()
        self._in_flight = InFlight()
        self._log = RequestLog()
        self._admin = AdminApi(self)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        #: How latency and slow faults wait; tests may replace it to see the waits without taking them.
        self.sleep: Callable[[float], None] = time.sleep

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> Emulator:
        """Bind and serve in a background thread.

        :return: ``self``.
        """
        if self._server is not None:
            return self
        server = _Server((HOST, self._requested_port), _Handler)
        server.emulator = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="monetate-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (raises if not started)."""
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() first")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        return f"http://{HOST}:{self.port}"

    # --- faults, counters, log -------------------------------------------------------

    def inject(
        self,
        route: str,
        kind: str,
        count: int = 1,
        status: int | None = None,
        seconds: float | None = None,
        retry_after: int | None = None,
    ) -> Fault:  # the same parameters as FaultInjector.inject, spelt out on purpose: a public method
        """Inject a fault; see :meth:`FaultInjector.inject` for the parameters."""
        return self.faults.inject(route, kind, count, status, seconds, retry_after)

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self.faults.clear()

    def counters(self) -> dict[str, dict]:
        """Per-route ``requests``, ``statuses`` ({status: n}), ``dropped``, ``rows_received``, ``auth_calls``."""
        return self._counters.snapshot()

    def in_flight(self) -> dict[str, dict[str, int]]:
        """Per route: ``in_flight`` (requests being answered now) and ``peak`` (most at once since the
        last :meth:`reset_peaks` or :meth:`reset`), from request read to answer written."""
        return self._in_flight.snapshot()

    def reset_peaks(self) -> None:
        """Start measuring peaks afresh, leaving data, counters and the log alone."""
        self._in_flight.reset_peaks()

    def requests(self) -> list[dict]:
        """Request log, oldest first: ``method``, ``path`` (with query), ``route``, ``status``,
        ``timestamp`` (real time), ``clock`` (emulator time), ``fault``, ``headers``; secrets redacted."""
        return self._log.snapshot()

    def reset(self, users: bool = False) -> None:
        """Clear data, tokens, faults, counters, log, clock offset, configuration and readings.

        :param users: also forget registered Monetate and CDP users.
        """
        for service in self.services:
            service.reset(users=users)
        self.faults.clear()
        self._counters.reset()
        self._in_flight.reset_peaks()
        self._log.reset()
        self.clock.reset()
        self.readings.reset()

    def set_reading(self, name: str, reading: str) -> None:
        """Choose how an open point of the documents is read (see :mod:`.readings`)."""
        self.readings.set(name, reading)

    def set_readings(self, chosen: dict[str, str]) -> dict[str, dict]:
        """Choose several readings at once; returns every point with the reading in force."""
        self.readings.set_many(chosen)
        return self.readings.snapshot()

    # --- state setup -----------------------------------------------------------------

    def add_monetate_user(self, username: str, public_key_pem: str, shortname: str) -> None:
        """Register a Monetate API user with its public key, bound to ``shortname``."""
        self.monetate.auth.add_user(username, public_key_pem, shortname)

    def deactivate_monetate_key(self, username: str) -> None:
        """Deactivate the user's public key: its tokens and refreshes then get 403."""
        self.monetate.auth.deactivate_key(username)

    def add_cdp_user(self, login: str, password: str, environment: str = "CS", tenant_id: str = "1234",
                     scheme: str = "a1user") -> None:
        """Register a CDP integration user (or, with ``scheme="a1webtag"``, a webtag service user).

        :param environment: ``CS``, ``UAT`` or ``PROD`` (sets the token limit).
        :param tenant_id: the tenant its tokens may write to.
        :param scheme: ``a1user`` (Bearer token on the tracker) or ``a1webtag`` (access key).
        """
        self.cdp.add_user(login, password, environment, str(tenant_id), scheme)

    def issue_cdp_token(self, login: str) -> str:
        """Create a CDP token without an HTTP call (not counted); limits and invalidation apply."""
        return self.cdp.issue_token(login)

    def expire_tokens(self, service: str = "all") -> int:
        """Expire live tokens now, as if their lifetime had run out (clients must re-authenticate).

        :param service: ``"monetate"``, ``"cdp"`` or ``"all"``.
        :return: how many tokens were expired.
        """
        if service not in ("monetate", "cdp", "all"):
            raise ValueError("service must be 'monetate', 'cdp' or 'all'")
        count = 0
        if service in ("monetate", "all"):
            count += self.monetate.auth.expire_tokens()
        if service in ("cdp", "all"):
            count += self.cdp.expire_tokens()
        return count

    def configure(
        self,
        invalidation: str | None = None,
        extend_seconds: int | None = None,
        nightly_batch_hour: float | None = None,
        environments: list[str] | None = None,
        token_limits: dict[str, int] | None = None,
    ) -> dict:
        """Change behaviour switches; ``None`` leaves a setting alone.

        :param invalidation: CDP ``all_previous`` (default) or ``evict_oldest``.
        :param extend_seconds: CDP extend period (default 15,599,999 s).
        :param nightly_batch_hour: UTC hour of Monetate's privacy batch (default 2).
        :param environments: accepted Monetate environment path segments (default ``["production"]``).
        :param token_limits: CDP per-environment limits, e.g. ``{"CS": 5}``.
        :return: the full configuration after the change.
        """
        self.cdp.configure(invalidation, extend_seconds, token_limits)
        self.monetate.configure(environments, nightly_batch_hour)
        return self.config()

    def config(self) -> dict:
        """The current configuration."""
        return {**self.cdp.config(), **self.monetate.config()}

    # --- state inspection ------------------------------------------------------------

    def monetate_rows(self, shortname: str, dataset: str, environment: str = "production") -> list[dict]:
        """Rows stored in a Monetate dataset (after any due privacy batch)."""
        return self.monetate.rows(shortname, dataset, environment)

    def privacy_status(self, shortname: str, customer_id: str, environment: str = "production") -> str:
        """``PENDING``, ``FOUND`` or ``NOT_FOUND`` for a customer ID, as of now."""
        return self.monetate.privacy_status(shortname, customer_id, environment)

    def cdp_records(self, tenant_id: str, entity: str) -> list[dict]:
        """CDP records of one entity (``customers`` or ``Customer``) for a tenant."""
        return self.cdp.records_of(str(tenant_id), entity)

    def cdp_stats(self) -> dict:
        """``kfk0_records``, tokens per user and cycle, active tokens, record and soft-delete counts."""
        return self.cdp.stats()

    # --- request handling ------------------------------------------------------------

    def _resolve(self, request: Request) -> tuple[Service | None, str | None, Handler | None, dict]:
        for service in self.services:
            resolved = service.resolve(request.method, request.path)
            if resolved is not None:
                return (service, *resolved)
        return None, None, None, {}

    def route_of(self, request: Request) -> str | None:
        """The route name a request is counted under; ``None`` for admin calls and unknown paths."""
        return None if request.path.startswith(ADMIN_PREFIX) else self._resolve(request)[1]

    def handle(self, request: Request) -> tuple[Response | None, float]:
        """Answer one request.

        :return: ``(response, delay)``: the response (``None`` = drop the connection) and
            how long to wait before sending it (``slow`` faults).
        """
        if request.path.startswith(ADMIN_PREFIX):
            return self._admin.handle(request), 0.0
        service, route, handler, params = self._resolve(request)
        plan: FaultPlan | None = self.faults.take(route) if route else None
        if plan and plan.latency:
            self.sleep(plan.latency)
        if plan and plan.drop:
            self._record(request, route, None, plan)
            return None, 0.0
        if plan and plan.status is not None:
            headers = {"Retry-After": str(plan.retry_after)} if plan.retry_after is not None else {}
            response = service.error(plan.status, f"Injected fault: HTTP {plan.status}.", headers)
        elif handler is None:
            owner = self.monetate if request.path.startswith(MONETATE_PATH_PREFIX) else self.cdp
            response = owner.not_found(request.path)
        else:
            response = self._call(handler, request, params)
        self._record(request, route, response, plan)
        return response, plan.slow if plan else 0.0

    def _call(self, handler: Handler, request: Request, params: dict) -> Response:
        try:
            return handler(request, params)
        except ApiError as exc:
            return exc.response
        except Exception:  # an emulator bug must still answer, and be visible
            traceback.print_exc(file=sys.stderr)
            # Monetate's envelope whatever the route: how the emulator has always answered its own bugs.
            return self.monetate.error(500, "Emulator internal error.")

    def _record(self, request: Request, route: str | None, response: Response | None, plan: FaultPlan | None) -> None:
        status = response.status if response is not None else None
        self._counters.record(
            route,
            status,
            rows=response.rows if response is not None else 0,
            auth_calls=response.auth_calls if response is not None else 0,
        )
        self._log.add(
            {
                "method": request.method,
                "path": redact_target(request.path, request.raw_query),
                "route": route,
                "status": status,
                "timestamp": time.time(),
                "clock": self.clock.now(),
                "fault": plan.label if plan else None,
                "headers": loggable_headers(request.headers),
            }
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # idle keep-alive connections must not block stop()
    allow_reuse_address = True
    request_queue_size = 128  # the default backlog of 5 stalls clients that open many connections at once
    emulator: Emulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so clients' sessions reuse connections
    server_version = "MonetateEmulator/1.0"
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without NODELAY, Nagle + delayed ACK
        # would add ~40 ms to every keep-alive response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args) -> None:  # the request log replaces stderr noise
        pass

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._send(Response(400, {"error": "bad request framing"}))
            return
        parts = urlsplit(self.path)
        query: dict[str, str] = {}
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            query.setdefault(key, value)
        request = Request(self.command, parts.path, query, parts.query, self.headers, body)
        emulator = self.server.emulator
        with emulator._in_flight.track(emulator.route_of(request)):  # in flight until answered
            response, delay = emulator.handle(request)
            if response is None:  # injected drop: close without answering
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            if delay:
                emulator.sleep(delay)
            self._send(response)

    def _send(self, response: Response) -> None:
        payload = response.encode()
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeouts)
            self.close_connection = True
