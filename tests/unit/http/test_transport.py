"""Library exceptions -> "may the request have reached the server?", with real sockets where it counts.

The real-socket cases run each library against a local server that misbehaves in one way, so
the mapping is checked against the exceptions the libraries really raise, not only hand-built
chains.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from http.client import RemoteDisconnected

import httpx
import pytest
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError
from urllib3.exceptions import SSLError as Urllib3SSLError

from airflow_provider_monetate.exceptions import ApiUnavailableError
from airflow_provider_monetate.http._policy import RetryPolicy
from airflow_provider_monetate.http._session import ApiSession
from airflow_provider_monetate.http._transport import (
    base_url,
    exception_chain,
    httpx_failure,
    requests_failure,
    tls_handshake_failed,
)
from tests.support.network_failures import SelfSignedServer, refuse_to_resolve


def wrapped(outer: BaseException, reason: BaseException) -> BaseException:
    """``outer`` as requests raises it: from urllib3's MaxRetryError, whose ``reason`` is the cause."""
    outer.__context__ = MaxRetryError(None, "/x/", reason)
    return outer


def during(outer: BaseException, inner: BaseException) -> BaseException:
    """``outer`` raised while handling ``inner``, as urllib3 wraps an ``ssl.SSLError``."""
    outer.__context__ = inner
    return outer


# -- requests, hand-built chains ----------------------------------------------------------------

@pytest.mark.parametrize(("exc", "reached", "text"), [
    (requests.ConnectTimeout(), False, "no connection to api.test within the connect timeout"),
    (wrapped(requests.ConnectionError(), during(NewConnectionError(None, "refused"), ConnectionRefusedError(111, "x"))),
     False, "connection refused by api.test; check the connection's host and port"),
    (wrapped(requests.exceptions.SSLError(),
             during(Urllib3SSLError(), ssl.SSLCertVerificationError(1, "verify failed"))),
     False, "TLS certificate of api.test not accepted (verify failed)"),
    (requests.ReadTimeout(), True, "no answer from api.test within the read timeout after sending"),
    (requests.ConnectionError(), True, "connection to api.test failed (ConnectionError) after sending"),
    (wrapped(requests.ConnectionError(), ProtocolError("Connection aborted.", RemoteDisconnected("closed"))), True,
     "api.test closed the connection without an answer after sending"),
])
def test_requests_failures(exc, reached, text):
    outcome = requests_failure(exc, url="https://api.test")
    assert outcome.status is None and outcome.reached is reached
    assert outcome.messages[0].startswith(text)


def test_a_string_reason_in_the_chain_does_not_crash_the_walk():
    # ssl.SSLError.reason is a string ("WRONG_VERSION_NUMBER"); the old walk followed it and
    # crashed with AttributeError: 'str' object has no attribute '__context__'.
    inner = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    inner.reason = "WRONG_VERSION_NUMBER"
    exc = wrapped(requests.exceptions.SSLError(), during(Urllib3SSLError(inner), inner))
    assert [type(e).__name__ for e in exception_chain(exc)][:2] == ["SSLError", "MaxRetryError"]
    assert requests_failure(exc).reached  # raised outside a handshake: a TLS error after sending


def test_chain_walk_ends_on_a_cycle():
    first, second = ValueError("a"), KeyError("b")
    first.__context__, second.__context__ = second, first
    assert list(exception_chain(first)) == [first, second]


def test_ssl_error_counts_as_a_handshake_failure_only_when_raised_in_the_handshake():
    def do_handshake():
        raise ssl.SSLError(1, "wrong version number")

    def recv_into():
        raise ssl.SSLError(1, "bad record mac")

    for fn, expected in ((do_handshake, True), (recv_into, False)):
        try:
            fn()
        except ssl.SSLError as exc:
            assert tls_handshake_failed(exc) is expected
    assert tls_handshake_failed(ssl.SSLCertVerificationError(1, "verify failed"))
    assert not tls_handshake_failed(OSError("x"))


# -- httpx ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("exc", "reached"), [
    (httpx.ConnectError("refused"), False),
    (httpx.ConnectTimeout("slow"), False),
    (httpx.PoolTimeout("busy"), False),
    (httpx.ReadTimeout("slow"), True),
    (httpx.WriteTimeout("slow"), True),
    (httpx.ReadError("reset"), True),
    (httpx.RemoteProtocolError("Server disconnected"), True),
])
def test_httpx_failures(exc, reached):
    assert httpx_failure(exc).reached is reached


def test_base_url():
    assert base_url(None, None, "https://api.monetate.net") == "https://api.monetate.net"
    assert base_url("api.test/", 8443, "") == "https://api.test:8443"
    assert base_url("http://127.0.0.1:9000", 1, "") == "http://127.0.0.1:9000"


# -- real sockets ---------------------------------------------------------------------------------

class Server:
    """A local TCP server that answers every connection with ``reply`` (or closes when ``None``)."""

    def __init__(self, reply: bytes | None) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)  # so the loop notices close() promptly
        self.port = self.sock.getsockname()[1]
        self.reply = reply
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                conn.recv(65536)
                if self.reply is not None:
                    conn.sendall(self.reply)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def plain_http():
    """Answers in plain HTTP: an ``https://`` client's TLS handshake fails."""
    server = Server(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    yield server
    server.close()


@pytest.fixture
def hangs_up():
    """Reads the request, then closes without answering: a dropped connection after sending."""
    server = Server(None)
    yield server
    server.close()


@pytest.fixture
def closed_port():
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens here now: connecting is refused
    return port


def requests_outcome(url: str):
    try:
        requests.post(url, json={"a": 1}, timeout=5)
    except (requests.ConnectionError, requests.Timeout) as exc:
        return requests_failure(exc, url=url)
    raise AssertionError("the request succeeded")


def httpx_outcome(url: str):
    async def send():
        async with httpx.AsyncClient(timeout=5) as client:
            await client.post(url, json={"a": 1})

    try:
        asyncio.run(send())
    except httpx.TransportError as exc:
        return httpx_failure(exc, url=url)
    raise AssertionError("the request succeeded")


@pytest.mark.parametrize("outcome_of", [requests_outcome, httpx_outcome])
def test_real_tls_handshake_failure_is_not_sent(plain_http, outcome_of):
    assert outcome_of(f"https://127.0.0.1:{plain_http.port}/rows/").reached is False


@pytest.mark.parametrize("outcome_of", [requests_outcome, httpx_outcome])
def test_real_refused_connection_is_not_sent(closed_port, outcome_of):
    assert outcome_of(f"http://127.0.0.1:{closed_port}/rows/").reached is False


@pytest.mark.parametrize("outcome_of", [requests_outcome, httpx_outcome])
def test_real_hang_up_after_the_request_is_in_doubt(hangs_up, outcome_of):
    assert outcome_of(f"http://127.0.0.1:{hangs_up.port}/rows/").reached is True


def test_session_retries_a_tls_handshake_failure_even_for_an_unsafe_call(plain_http):
    # This call crashed with AttributeError before the chain walk skipped string reasons.
    session = ApiSession("Monetate", f"https://127.0.0.1:{plain_http.port}", retry=RetryPolicy(max_attempts=2),
                         sleep=lambda s: None)
    with pytest.raises(ApiUnavailableError) as info:
        session.request("POST", "/rows/", json={"a": 1}, retry_ambiguous=False)
    assert info.value.attempts == 2 and not info.value.in_doubt
    assert info.value.messages[0].startswith(f"TLS handshake with 127.0.0.1:{plain_http.port} failed")
    assert info.value.failure == "SSLError" and info.value.__cause__ is None


def test_an_exception_being_handled_by_the_caller_does_not_count_as_this_calls_cause(closed_port, hangs_up):
    # Called from an except block, every new exception chains the handled one as context; an
    # earlier refused connection there must not make this dropped POST look "not sent".
    session = ApiSession("Monetate", f"http://127.0.0.1:{hangs_up.port}", retry=RetryPolicy(max_attempts=3),
                         sleep=lambda s: None)
    try:
        requests.get(f"http://127.0.0.1:{closed_port}/", timeout=5)
    except requests.ConnectionError:
        with pytest.raises(ApiUnavailableError) as info:
            session.request("POST", "/rows/", json={"a": 1}, retry_ambiguous=False)
    assert info.value.in_doubt and info.value.attempts == 1


# -- what failed, and where: the same words from both libraries --------------------------------------

BOTH = pytest.mark.parametrize("outcome_of", [requests_outcome, httpx_outcome], ids=["requests", "httpx"])


@BOTH
def test_a_self_signed_certificate_is_named_with_its_host(tmp_path, outcome_of):
    with SelfSignedServer(tmp_path) as server:
        outcome = outcome_of(f"{server.url}/rows/?id=C42")
    (text,) = outcome.messages
    assert text.startswith(f"TLS certificate of 127.0.0.1:{server.port} not accepted (self-signed certificate)")
    assert "REQUESTS_CA_BUNDLE" in text and outcome.reached is False
    assert "C42" not in text and "/rows/" not in text  # the query may hold a customer ID


@BOTH
def test_plain_http_behind_https_says_tls_handshake_and_suggests_http(plain_http, outcome_of):
    (text,) = outcome_of(f"https://127.0.0.1:{plain_http.port}/rows/").messages
    assert text.startswith(f"TLS handshake with 127.0.0.1:{plain_http.port} failed")
    assert "write http:// in the connection's host" in text


@BOTH
def test_a_refused_connection_names_the_host_and_port(closed_port, outcome_of):
    (text,) = outcome_of(f"http://127.0.0.1:{closed_port}/rows/").messages
    assert text.startswith(f"connection refused by 127.0.0.1:{closed_port}")


@BOTH
def test_an_unresolvable_host_name_is_named(monkeypatch, outcome_of):
    name = refuse_to_resolve(monkeypatch)
    (text,) = outcome_of(f"https://{name}/rows/").messages
    assert text.startswith(f"cannot resolve the host name {name} (Name or service not known)")


@BOTH
def test_a_dropped_connection_names_the_host(hangs_up, outcome_of):
    (text,) = outcome_of(f"http://127.0.0.1:{hangs_up.port}/rows/").messages
    assert text == f"127.0.0.1:{hangs_up.port} closed the connection without an answer after sending"


@pytest.mark.parametrize(("exc", "text"), [
    (requests.ConnectTimeout(), "no connection to api.test within the connect timeout"),
    (requests.ReadTimeout(), "no answer from api.test within the read timeout after sending"),
    (httpx.ConnectTimeout("slow"), "no connection to api.test within the connect timeout"),
    (httpx.ReadTimeout("slow"), "no answer from api.test within the read timeout after sending"),
    (httpx.PoolTimeout("busy"), "no free connection to api.test within the pool timeout"),
])
def test_timeouts_say_which_phase_and_host(exc, text):
    failure = httpx_failure if isinstance(exc, httpx.TransportError) else requests_failure
    assert failure(exc, url="https://user:pw@api.test/x/?id=C42").messages == (text,)


def test_the_session_error_says_what_failed_and_where(tmp_path):
    with SelfSignedServer(tmp_path) as server:
        session = ApiSession("Monetate", server.url, retry=RetryPolicy(max_attempts=1))
        with pytest.raises(ApiUnavailableError) as info:
            session.request("GET", "/api/data/v1/shop/production/schema/", params={"id": "C42"})
    assert str(info.value).startswith(
        f"Monetate GET /api/data/v1/shop/production/schema/ -> no response: TLS certificate of "
        f"127.0.0.1:{server.port} not accepted (self-signed certificate)")
    assert "C42" not in str(info.value)
