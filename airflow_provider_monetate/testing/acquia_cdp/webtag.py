"""Acquia CDP webtag service users on the tracker: ``?scheme=a1webtag&accessKey=<key>``, checked.

What the documents say (the seed; the notes §3, from Acquia's webtag pages): a webtag service
user sends no ``Authorization`` header; the tracker call carries ``accessKey``, the bcrypt hash
(cost 10, ``$2a$``) of the user's bearer token immediately followed by the current date as
``yyyy-MM-dd``; the key has "a 24-hour expiration limit", and "failure in encryption or
exceeding the 24-hour time limit can result in an access block, and multiple attempts can
result in a complete block".

Open points, each a reading (the first is the default):

* ``cdp.webtag_key_lifetime``: ``utc_day``, the key of the current date only; or
  ``24h_from_first_use``, yesterday's key too, for 24 hours after its first accepted call.
* ``cdp.webtag_block``: ``after_first_failure`` (the seed: a failure "can result in an access
  block") or ``after_repeated_failures`` (:data:`REPEATED_FAILURES` refused keys within
  :data:`BLOCK_SECONDS`; the first failures are refusals only).
* ``cdp.webtag_key_encoding``: ``percent_decoded``, the query read as any web server reads it;
  or ``as_written``, the key compared with the query text as sent (the documents show it raw).

Emulator choices, stated by no document: the date is the UTC date of the emulator clock (the
third-party code the notes cite uses UTC); refused keys are counted per tenant (a key that
matches no token names no user); a block lasts :data:`BLOCK_SECONDS` of emulator time (the
documents give no length) and answers every webtag call of the tenant with 403
``ACCESS_BLOCKED``, a valid key included; a refused key answers 401 ``INVALID_ACCESS_KEY``.

Checking a key costs a bcrypt hash per candidate token; a key once matched is remembered.
bcrypt is the provider's optional ``webtag`` extra: without it, webtag calls answer 501.
Not thread-safe: ``CdpService`` holds its lock around every call.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_monetate.testing.acquia_cdp.envelope import fail
from airflow_provider_monetate.testing.acquia_cdp.tokens import CdpToken, TokenRegistry
from airflow_provider_monetate.testing.clock import Clock
from airflow_provider_monetate.testing.readings import Readings, declare
from airflow_provider_monetate.testing.wire import Request

__all__ = ["BLOCK_SECONDS", "REPEATED_FAILURES", "WEBTAG_SCHEME", "WebtagGuard"]

WEBTAG_SCHEME = "a1webtag"
#: Refused keys within BLOCK_SECONDS that block a tenant's webtag calls (``after_repeated_failures``).
REPEATED_FAILURES = 3
#: How long a block lasts, in emulator seconds (not documented: an emulator choice).
BLOCK_SECONDS = 3600.0
_DAY = 86400.0

declare("cdp.webtag_key_lifetime", ("utc_day", "24h_from_first_use"),
        "The seed gives the key 'a 24-hour expiration limit' and the webtag page says to regenerate it daily from "
        "the current date; whether yesterday's key still works for 24 hours after it was first used is open.")
declare("cdp.webtag_block", ("after_first_failure", "after_repeated_failures"),
        "The seed: 'Failure in encryption or exceeding the 24-hour time limit can result in an access block, and "
        "multiple attempts can result in a complete block.' How many failures block, and for how long, is open.")
declare("cdp.webtag_key_encoding", ("percent_decoded", "as_written"),
        "The webtag page shows ?scheme=a1webtag&accessKey=<bcrypt> with the key raw ($, /, . in it); whether the "
        "tracker percent-decodes the query or compares the key as written is not said.")


def _bcrypt() -> Any:
    try:
        import bcrypt
    except ImportError:
        raise fail(501, "NOT_IMPLEMENTED", "The emulator checks webtag access keys with bcrypt; install it "
                   '(pip install "airflow-provider-monetate[webtag]").') from None
    return bcrypt


def _key_as_written(raw_query: str) -> str | None:
    for pair in raw_query.split("&"):
        name, _, value = pair.partition("=")
        if name == "accessKey":
            return value
    return None


class WebtagGuard:
    """Admits webtag tracker calls whose access key is the day's key of a live token of the tenant.

    :param clock: the emulator clock.
    :param readings: the readings in force.
    :param tokens: the users and tokens.
    """

    def __init__(self, clock: Clock, readings: Readings, tokens: TokenRegistry) -> None:
        self.clock = clock
        self.readings = readings
        self.tokens = tokens
        self.reset()

    def reset(self) -> None:
        """Forget matched keys, refusals and blocks."""
        self.matched: dict[str, tuple[str, str]] = {}  # key -> (token value, day)
        self.first_use: dict[str, float] = {}
        self.failures: dict[str, list[float]] = {}
        self.blocked_until: dict[str, float] = {}

    def admit(self, request: Request, tenant: str) -> CdpToken:
        """The token whose key the call carries.

        :raises ApiError: 403 ``ACCESS_BLOCKED`` while the tenant is blocked; 401
            ``INVALID_ACCESS_KEY`` for a missing, wrong or stale key (counted toward a block).
        """
        now = self.clock.now()
        if self.blocked_until.get(tenant, 0.0) > now:
            raise fail(403, "ACCESS_BLOCKED", "Webtag access to this tenant is blocked after failed access-key "
                       "attempts", f"blocked for {self.blocked_until[tenant] - now:.0f} more seconds")
        if self.readings.get("cdp.webtag_key_encoding") == "as_written":
            key = _key_as_written(request.raw_query)
        else:
            key = request.query.get("accessKey")
        token = self._token_for(key, tenant, now) if key else None
        if token is None:
            raise self._refused(tenant, now, "missing" if not key else "wrong or stale")
        self.first_use.setdefault(key, now)
        return token

    def _days(self, now: float) -> list[str]:
        today = datetime.fromtimestamp(now, timezone.utc)
        days = [today.strftime("%Y-%m-%d")]
        if self.readings.get("cdp.webtag_key_lifetime") == "24h_from_first_use":
            days.append((today - timedelta(days=1)).strftime("%Y-%m-%d"))
        return days

    def _token_for(self, key: str, tenant: str, now: float) -> CdpToken | None:
        days = self._days(now)
        if key in self.matched:
            value, day = self.matched[key]
            token = self.tokens.tokens.get(value)
            return token if self._usable(token, tenant, now) and self._in_time(key, day, days, now) else None
        candidates = [token for user in self.tokens.users.values()
                      if user.scheme == WEBTAG_SCHEME and user.tenant_id == tenant for token in self.tokens.live(user)]
        bcrypt = _bcrypt()
        for token in candidates:
            for day in days:
                try:
                    if bcrypt.checkpw((token.value + day).encode(), key.encode()):
                        self.matched[key] = (token.value, day)
                        return token if self._in_time(key, day, days, now) else None
                except ValueError:  # not a bcrypt hash at all
                    return None
        return None

    def _usable(self, token: CdpToken | None, tenant: str, now: float) -> bool:
        return (token is not None and token.valid and now < token.expires_at
                and self.tokens.owner(token).tenant_id == tenant)

    def _in_time(self, key: str, day: str, days: list[str], now: float) -> bool:
        if day == days[0]:
            return True  # the key of the current date
        first = self.first_use.get(key)
        return day in days and first is not None and now - first < _DAY

    def _refused(self, tenant: str, now: float, what: str):
        failures = [t for t in self.failures.get(tenant, []) if now - t < BLOCK_SECONDS] + [now]
        self.failures[tenant] = failures
        threshold = 1 if self.readings.get("cdp.webtag_block") == "after_first_failure" else REPEATED_FAILURES
        if len(failures) >= threshold:
            self.blocked_until[tenant] = now + BLOCK_SECONDS
        return fail(401, "INVALID_ACCESS_KEY", f"The webtag access key is {what}",
                    "accessKey = bcrypt ($2a$, cost 10) of the token followed by the UTC date yyyy-MM-dd")

    def stats(self) -> dict:
        """``failures`` (refused keys per tenant, within the block window) and ``blocked`` tenants."""
        now = self.clock.now()
        return {"failures": {t: len([x for x in f if now - x < BLOCK_SECONDS]) for t, f in self.failures.items()},
                "blocked": sorted(t for t, until in self.blocked_until.items() if until > now)}
