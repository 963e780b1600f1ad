"""The Acquia CDP webtag access key, for tenants whose tracker uses the ``a1webtag`` scheme.

Webtag service users do not send the bearer token itself: the tracker call carries
``scheme=a1webtag&accessKey=<key>``, where the key is the bcrypt hash (cost 10, ``$2a$``
prefix) of the token immediately followed by the current date as ``yyyy-MM-dd``. A key is
accepted for 24 hours, so it is regenerated daily; the date is taken in UTC. Failed or
stale keys can get the caller blocked, so :func:`webtag_access_key` refuses bad input
instead of hashing it.

The key grants write access for a day: treat it like the token (mask it, keep it out of
logs and XCom). bcrypt is an optional extra: ``pip install "airflow-provider-monetate[webtag]"``.

:class:`WebtagAccess` is what the hook's tracker calls use: the key of the UTC day, made again
when the date changes, and a gate that lets no call be sent after one was refused (failed
attempts block the account). :func:`account_scheme` reads the connection's ``scheme``.
No Airflow imports.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from datetime import time as dtime
from typing import Any
from urllib.parse import quote

from airflow_provider_monetate.exceptions import ApiError, ConfigurationError, MissingDependencyError

__all__ = ["BCRYPT_COST", "MIDNIGHT_MARGIN", "SCHEMES", "USER_SCHEME", "WEBTAG_SCHEME", "WebtagAccess",
           "account_scheme", "utc_now", "webtag_access_key", "webtag_key_matches"]

USER_SCHEME = "a1user"  # integration users: Authorization: Bearer <token>
WEBTAG_SCHEME = "a1webtag"  # webtag service users: the access key in the query
#: The account schemes the documents name, lowercase as they write them.
SCHEMES = (USER_SCHEME, WEBTAG_SCHEME)
BCRYPT_COST = 10
#: Seconds before UTC midnight in which a call waits for the new day's key instead.
MIDNIGHT_MARGIN = 10.0
#: The answers to a refused key: never retried, and no further call is sent.
REFUSED = frozenset({401, 403})
_PREFIX = b"2a"  # what CDP checks for; bcrypt's own default is 2b
_MAX_BCRYPT_BYTES = 72  # bcrypt ignores (bcrypt >= 5: refuses) anything longer
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def account_scheme(value: object) -> str:
    """The scheme named by a connection extra, lowercase (default ``a1user``).

    :raises ConfigurationError: any other scheme.
    """
    scheme = str(value or USER_SCHEME).strip().lower()
    if scheme not in SCHEMES:
        raise ConfigurationError(f"Unknown Acquia CDP scheme {value!r}; expected {USER_SCHEME} (integration user, "
                                 f"bearer token) or {WEBTAG_SCHEME} (webtag service user, access key)")
    return scheme


def _bcrypt() -> Any:
    try:
        import bcrypt
    except ImportError as exc:
        raise MissingDependencyError(
            "Creating an Acquia CDP webtag access key needs the bcrypt package: "
            'pip install "airflow-provider-monetate[webtag]"'
        ) from exc
    return bcrypt


def _day_text(day: date | datetime | str | None) -> str:
    if day is None:
        day = datetime.now(timezone.utc)
    if isinstance(day, datetime):
        # A naive datetime is taken as UTC already; an aware one is moved to UTC first.
        return (day.astimezone(timezone.utc) if day.tzinfo else day).strftime("%Y-%m-%d")
    if isinstance(day, date):
        return day.isoformat()
    if isinstance(day, str) and _DAY.fullmatch(day):
        try:
            date.fromisoformat(day)
        except ValueError:
            raise ConfigurationError(f"day {day!r} is not a calendar date") from None
        return day
    raise ConfigurationError(f"day must be a date, a datetime or a 'yyyy-MM-dd' string, got {type(day).__name__}")


def _message(token: str, day: date | datetime | str | None) -> bytes:
    if not token or not isinstance(token, str):
        raise ConfigurationError("the webtag access key needs the bearer token (a non-empty string)")
    message = (token + _day_text(day)).encode()
    if len(message) > _MAX_BCRYPT_BYTES:
        raise ConfigurationError(
            f"the token is {len(token.encode())} bytes; with the date that is more than the {_MAX_BCRYPT_BYTES} "
            "bytes bcrypt can hash, so the key could not match what CDP computes"
        )
    return message


def webtag_access_key(token: str, day: date | datetime | str | None = None) -> str:
    """The ``accessKey`` for ``scheme=a1webtag`` tracker calls on ``day``.

    :param token: the webtag service user's bearer token.
    :param day: the day the key is for (default: today in UTC); a ``datetime`` counts by its
        UTC date, a string must be ``yyyy-MM-dd``.
    :return: ``$2a$10$...`` (60 characters; URL-encode it in the query string).
    :raises MissingDependencyError: bcrypt is not installed (the ``webtag`` extra).
    :raises ConfigurationError: an empty token, a bad day, or more than bcrypt's 72 input bytes.
    """
    bcrypt = _bcrypt()
    message = _message(token, day)
    return bcrypt.hashpw(message, bcrypt.gensalt(rounds=BCRYPT_COST, prefix=_PREFIX)).decode()


def webtag_key_matches(key: str, token: str, day: date | datetime | str | None = None) -> bool:
    """Whether ``key`` is a valid access key for ``token`` on ``day`` (as CDP checks it).

    :raises MissingDependencyError: bcrypt is not installed (the ``webtag`` extra).
    """
    bcrypt = _bcrypt()
    message = _message(token, day)
    try:
        return bcrypt.checkpw(message, key.encode())
    except ValueError:  # not a bcrypt hash at all
        return False


def utc_now() -> datetime:
    """The current UTC time (the default clock of :class:`WebtagAccess`; looked up at each call)."""
    return datetime.now(timezone.utc)


class WebtagAccess:
    """The query of a webtag service user's tracker calls, and the rule that a refused key is not tried again.

    Every call carries ``scheme=a1webtag&accessKey=<key>`` and no ``Authorization`` header. The
    key is made once per UTC day from the token then current (so a token the rotation DAG
    replaced is picked up at the next day's key). A call made within :data:`MIDNIGHT_MARGIN`
    seconds of UTC midnight waits for the new day first: a key made at 23:59:59 would reach CDP
    after midnight, no longer the key of its day. The key travels unencoded, as the documents
    show it: bcrypt's alphabet (``$``, ``.``, ``/``, letters, digits) is legal in a query, so a
    server that percent-decodes reads the same key as one that does not.

    Acquia warns that failed or stale keys block access, and repeated ones block it completely.
    So a key is first tried by one call alone (the others wait); once accepted, calls go out
    together. A 401 or 403 closes the gate for good: the call is not retried, and no other call
    of this instance is sent, each raising the same kind of error instead (``not sent``).

    Thread-safe.

    :param token: returns the current bearer token (read again for each new day's key).
    :param hold: given every key made, to keep it out of logs (the key grants a day's access).
    :param clock: the current time, aware (default: :func:`utc_now`).
    :param sleep: waits that many seconds (default :func:`time.sleep`).
    """

    def __init__(self, token: Callable[[], str], *, hold: Callable[..., None] | None = None,
                 clock: Callable[[], datetime] | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self._token = token
        self._hold = hold or (lambda *secrets: None)
        self._clock = clock
        self._sleep = sleep
        self._gate = threading.Condition()
        self._key: tuple[str, str] | None = None  # (UTC day, key)
        self._accepted: str | None = None  # the query a call got through with
        self._trying = False
        self._refusal: ApiError | None = None

    def _today(self) -> str:
        now = (self._clock or utc_now)().astimezone(timezone.utc)
        to_midnight = (datetime.combine(now.date() + timedelta(days=1), dtime(), timezone.utc) - now).total_seconds()
        if to_midnight < MIDNIGHT_MARGIN:
            self._sleep(to_midnight + 0.5)
            now = (self._clock or utc_now)().astimezone(timezone.utc)
        return now.strftime("%Y-%m-%d")

    def query(self) -> str:
        """``scheme=a1webtag&accessKey=<key>`` with the key of the current UTC day."""
        day = self._today()
        with self._gate:
            if self._key is None or self._key[0] != day:
                key = webtag_access_key(self._token(), day)
                self._hold(key, quote(key, safe=""))
                self._key = (day, key)
            return f"scheme={WEBTAG_SCHEME}&accessKey={self._key[1]}"

    @contextmanager
    def call(self) -> Iterator[str]:
        """Around one tracker call: yields its query string once the call may be sent.

        :raises ApiAuthError | ApiForbiddenError: a call was refused before (``not sent``).
        """
        query = self.query()
        alone = self._admit(query)
        try:
            yield query
        except ApiError as exc:
            if exc.status in REFUSED:
                with self._gate:
                    self._refusal = self._refusal or exc
                    self._gate.notify_all()
            raise
        else:
            if alone:
                with self._gate:
                    self._accepted = query
        finally:
            if alone:
                with self._gate:
                    self._trying = False
                    self._gate.notify_all()

    def _admit(self, query: str) -> bool:
        """Wait until ``query`` may be sent; ``True`` when this call tries it alone."""
        with self._gate:
            while True:
                if self._refusal is not None:
                    first = self._refusal
                    raise type(first)(first.service, first.method, first.path, first.status,
                                      ["not sent: an earlier call with the webtag access key was refused"], first.hint)
                if query == self._accepted:
                    return False
                if not self._trying:
                    self._trying = True
                    return True
                self._gate.wait()
