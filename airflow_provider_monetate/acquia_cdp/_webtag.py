"""The Acquia CDP webtag access key, for tenants whose tracker uses the ``a1webtag`` scheme.

Webtag service users do not send the bearer token itself: the tracker call carries
``scheme=a1webtag&accessKey=<key>``, where the key is the bcrypt hash (cost 10, ``$2a$``
prefix) of the token immediately followed by the current date as ``yyyy-MM-dd``. A key is
accepted for 24 hours, so it is regenerated daily; the date is taken in UTC. Failed or
stale keys can get the caller blocked, so :func:`webtag_access_key` refuses bad input
instead of hashing it.

The key grants write access for a day: treat it like the token (mask it, keep it out of
logs and XCom). bcrypt is an optional extra: ``pip install "airflow-provider-monetate[webtag]"``.
No Airflow imports.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Any

from airflow_provider_monetate.exceptions import ConfigurationError, MissingDependencyError

__all__ = ["BCRYPT_COST", "webtag_access_key", "webtag_key_matches"]

BCRYPT_COST = 10
_PREFIX = b"2a"  # what CDP checks for; bcrypt's own default is 2b
_MAX_BCRYPT_BYTES = 72  # bcrypt ignores (bcrypt >= 5: refuses) anything longer
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


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
