"""What the token store keeps between rotation runs, and how each step of a run changes it.

:class:`TokenState` is immutable: every step (``before_create``, ``after_create``,
``after_extend``, ``after_verify``, ``after_wipe``, ...) returns a new state, which the run
writes to the store in the order that keeps it crash-safe (see ``_rotation``). Pure: no
Airflow imports.

The token's expiry
------------------
The seed says a verify "reflects [the 180-day lifespan] in the ``expires_in`` attribute as
15599999 seconds": that may be the seconds left (a countdown) or the lifetime itself, the same
on every verify. So the state tracks the expiry itself: ``local_expires_at`` is the time of
the last create or extend plus the token's lifetime (CDP's ``expires_in`` at create). An
extension is counted as restarting the lifetime, the earlier of the two readings of "extend"
(the seed's "by another 180 days" adds to the expiry). The expiry in use (``expires_at``) is
the earlier of the tracked one and what the last verify reported, so it is right under either
reading. Until the state tracks a token (one adopted from outside, or a state written by an
older version) the expiry in use is unknown, and the rotation extends the token to learn it.
The same ``expires_in`` on two different days with no create or extend between them means
CDP reports the fixed lifetime: ``fixed_lifetime_since`` records when that was first seen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timezone
from enum import Enum

from airflow_provider_monetate.acquia_cdp.tokens._policy import TOKEN_LIFETIME_SECONDS
from airflow_provider_monetate.exceptions import StateFileError

__all__ = ["RotationAction", "TokenState", "earliest_expiry", "utc_day"]


class RotationAction(str, Enum):
    """What a run does to the token.

    ``ROTATE`` and ``RECOVER`` both create the next token of the cycle; ``ROTATE`` then deletes
    the previous token (already dead if creating invalidates older tokens, still alive
    otherwise), ``RECOVER`` replaces a token that is missing or no longer valid.
    ``WIPE_AND_RESTART`` wipes all tokens and creates the first token of a new cycle.
    """

    NONE = "none"
    EXTEND = "extend"
    ROTATE = "rotate"
    WIPE_AND_RESTART = "wipe_and_restart"
    RECOVER = "recover"


def utc_day(epoch: float) -> date:
    """The UTC calendar day of an epoch time."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).date()


def earliest_expiry(local_expires_at: float | None, reported_expires_in: float | None, now: float) -> float | None:
    """The earlier of the tracked expiry and ``now`` plus what CDP reported; ``None`` when neither is known.

    :param local_expires_at: the expiry tracked from the last create or extend, if any.
    :param reported_expires_in: the ``expires_in`` of a verify made at ``now``, if any.
    :param now: when the verify was made.
    """
    reported = now + reported_expires_in if reported_expires_in is not None else None
    known = [figure for figure in (local_expires_at, reported) if figure is not None]
    return min(known) if known else None


@dataclass(frozen=True, repr=False)
class TokenState:
    """What the store keeps between runs. Times are epoch seconds (UTC).

    ``repr``/``str`` mask the token; :meth:`to_json` does not (it is what the store saves).

    :param token: the bearer token in use, or ``None``.
    :param created_at: when the token was created (or adopted).
    :param expires_at: the expiry in use: the earlier of ``local_expires_at`` and the last verify's
        figure; ``None`` while ``local_expires_at`` is unknown.
    :param extended_at: when the token was last extended, ``None`` since its creation.
    :param local_expires_at: the expiry tracked here: the last create or extend plus ``lifetime``.
    :param lifetime: seconds a token lives, as CDP reported at its create (``None``: the seed's figure).
    :param observed_expires_in: the last verify's ``expires_in`` since the last create or extend.
    :param observed_on: ISO date of that verify.
    :param fixed_lifetime_since: ISO date CDP was first seen reporting the same ``expires_in`` on
        two days (the fixed-lifetime reading), ``None`` until then.
    :param cycle_started_at: when the current cycle started.
    :param tokens_created_in_cycle: creations counted in this cycle, including one about to
        happen (see :meth:`before_create`).
    :param policy: name of the policy that created the token.
    :param slot: index of the token's slot in the cycle.
    :param last_action: the action of the last completed run.
    :param last_run_day: ISO date of the last completed run.
    """

    token: str | None = None
    created_at: float | None = None
    expires_at: float | None = None
    extended_at: float | None = None
    cycle_started_at: float | None = None
    tokens_created_in_cycle: int = 0
    policy: str | None = None
    slot: int = 0
    last_action: str | None = None
    last_run_day: str | None = None
    local_expires_at: float | None = None
    lifetime: float | None = None
    observed_expires_in: float | None = None
    observed_on: str | None = None
    fixed_lifetime_since: str | None = None

    def __repr__(self) -> str:
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        if shown["token"] is not None:
            shown["token"] = "***"
        return f"TokenState({', '.join(f'{key}={value!r}' for key, value in shown.items())})"

    def to_json(self) -> str:
        """The state as JSON, token included."""
        # Every field is a scalar: no deep copy (``asdict``) needed; a rotation writes the state often.
        return json.dumps({name: getattr(self, name) for name in _FIELD_NAMES}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TokenState:
        """Read :meth:`to_json` output. Unknown keys (from a newer version) are ignored.

        :param text: a JSON object.
        :raises StateFileError: when the text is not a JSON object.
        """
        data = json.loads(text)
        if not isinstance(data, dict):
            raise StateFileError("Token state JSON must be an object.")
        return cls(**{key: value for key, value in data.items() if key in _FIELD_NAMES})

    @classmethod
    def adopt(cls, token: str, now: float) -> TokenState:
        """Start tracking a token made outside this module (e.g. pasted into a Variable).

        Its real age, expiry and the cycle's count are unknown: the schedule starts now, the
        token counts as the cycle's first creation, and the first run extends it so that its
        expiry is known. If CDP has seen more creations, it refuses a create (under that
        reading) and :meth:`after_create_refused` corrects the count.

        :param token: the existing bearer token.
        :param now: the current time.
        """
        return cls(token=token, created_at=now, cycle_started_at=now, tokens_created_in_cycle=1)

    def before_create(self) -> TokenState:
        """Count a creation before asking CDP for it; write this state first."""
        return replace(self, tokens_created_in_cycle=self.tokens_created_in_cycle + 1)

    def after_create(self, token: str, now: float, policy: str, expires_in: float | None = None) -> TokenState:
        """Store a newly created token; it takes the slot of the creation counted last.

        :param token: the new bearer token.
        :param now: the current time.
        :param policy: name of the policy in force.
        :param expires_in: the lifetime CDP's create answer reported (default: the seed's figure).
        """
        lifetime = expires_in if expires_in is not None and expires_in > 0 else None
        local = now + (lifetime or TOKEN_LIFETIME_SECONDS)
        return replace(
            self,
            token=token,
            created_at=now,
            expires_at=local,
            extended_at=None,
            local_expires_at=local,
            lifetime=lifetime,
            observed_expires_in=None,
            observed_on=None,
            cycle_started_at=self.cycle_started_at if self.cycle_started_at is not None else now,
            policy=policy,
            slot=max(self.tokens_created_in_cycle - 1, 0),
        )

    def after_extend(self, now: float) -> TokenState:
        """Record an extension: counted as restarting the token's lifetime (see "The token's expiry").

        :param now: the current time.
        """
        local = now + (self.lifetime or TOKEN_LIFETIME_SECONDS)
        return replace(self, expires_at=local, local_expires_at=local, extended_at=now,
                       observed_expires_in=None, observed_on=None)

    def after_verify(self, expires_in: float | None, now: float) -> TokenState:
        """Take in a verify of the stored token that CDP accepted.

        The expiry in use becomes the earlier of the tracked one and the reported one (unknown
        while nothing is tracked); a figure equal to one reported on an earlier day, with no
        create or extend between, records the fixed-lifetime reading.

        :param expires_in: the verify's ``expires_in``, ``None`` when CDP gave none.
        :param now: when the verify was made.
        """
        if expires_in is None:
            return self
        today = utc_day(now).isoformat()
        fixed = self.fixed_lifetime_since
        if fixed is None and self.observed_expires_in == expires_in and self.observed_on not in (None, today):
            fixed = today
        expires_at = (
            earliest_expiry(self.local_expires_at, expires_in, now) if self.local_expires_at is not None else None
        )
        return replace(self, expires_at=expires_at, observed_expires_in=expires_in, observed_on=today,
                       fixed_lifetime_since=fixed)

    def expires_in_at(self, now: float) -> float | None:
        """Seconds left by the expiry in use, ``None`` when it is unknown.

        :param now: the current time.
        """
        return self.expires_at - now if self.expires_at is not None else None

    def after_wipe(self, now: float) -> TokenState:
        """All tokens are gone: a new cycle starts with nothing created.

        :param now: the current time.
        """
        return replace(
            self,
            token=None,
            created_at=None,
            expires_at=None,
            extended_at=None,
            local_expires_at=None,
            lifetime=None,
            observed_expires_in=None,
            observed_on=None,
            cycle_started_at=now,
            tokens_created_in_cycle=0,
            slot=0,
        )

    def after_delete(self) -> TokenState:
        """The token was deleted: nothing is in use; the cycle's count stands."""
        return replace(self, token=None, expires_at=None, extended_at=None, local_expires_at=None,
                       observed_expires_in=None, observed_on=None)

    def after_create_refused(self, quota: int) -> TokenState:
        """CDP refused a create: its count for this cycle is at the limit, whatever ours said.

        :param quota: the policy's tokens per cycle.
        """
        return replace(self, tokens_created_in_cycle=max(self.tokens_created_in_cycle, quota))

    def mark_run(self, today: date, action: RotationAction) -> TokenState:
        """Record a completed run.

        :param today: the run's date (UTC).
        :param action: what the run did.
        """
        return replace(self, last_run_day=today.isoformat(), last_action=action.value)


_FIELD_NAMES = frozenset(f.name for f in fields(TokenState))
