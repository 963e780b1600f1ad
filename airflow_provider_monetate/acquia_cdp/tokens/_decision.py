"""When to verify, extend, rotate or wipe an Acquia CDP bearer token: one pure daily decision.

:func:`decide` turns the stored :class:`~airflow_provider_monetate.acquia_cdp.tokens._state.TokenState`,
a fresh :class:`VerifyResult` and today's date into one :class:`Decision` under a
:class:`~airflow_provider_monetate.acquia_cdp.tokens._policy.RotationPolicy`. Nothing here
depends on how the documents are read: whether a create invalidates every earlier token (the
seed) or only the oldest beyond the limit, or is refused at the limit; whether a verify's
``expires_in`` counts down or is the fixed lifetime (the rotation passes the expiry in use,
see ``_state``). No Airflow imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from airflow_provider_monetate.acquia_cdp.tokens._policy import DAY, RotationPolicy
from airflow_provider_monetate.acquia_cdp.tokens._state import RotationAction, TokenState, utc_day
from airflow_provider_monetate.exceptions import RotationQuotaError

__all__ = ["Decision", "IssuedToken", "VerifyResult", "decide"]


@dataclass(frozen=True)
class VerifyResult:
    """What a verify (``GET /token`` with the token as Bearer) said.

    :param valid: whether CDP accepted the token.
    :param expires_in: seconds the token has left, or ``None`` when CDP did not say.
    """

    valid: bool
    expires_in: float | None = None


@dataclass(frozen=True)
class IssuedToken:
    """What a create returned. ``repr`` never shows the token.

    :param token: the new bearer token.
    :param expires_in: the lifetime CDP reported, or ``None`` when it did not say.
    """

    token: str = field(repr=False)
    expires_in: float | None = None


@dataclass(frozen=True)
class Decision:
    """The action for this run and why.

    :param action: what to do.
    :param reason: a sentence for the task log (never contains the token).
    :param days_left: the token's remaining days when it was valid, else ``None``.
    """

    action: RotationAction
    reason: str
    days_left: float | None = None


def _days_left(state: TokenState, verify: VerifyResult, today: date) -> float | None:
    if verify.expires_in is not None:
        return verify.expires_in / DAY
    if state.expires_at is None:
        return None
    # Only the date is known: count from the end of today, so the estimate errs short.
    end_of_today = datetime(today.year, today.month, today.day, tzinfo=timezone.utc).timestamp() + DAY
    return (state.expires_at - end_of_today) / DAY


def _replace_lost(policy: RotationPolicy, state: TokenState, why: str) -> Decision:
    if state.tokens_created_in_cycle < policy.tokens_per_cycle:
        left = policy.tokens_per_cycle - state.tokens_created_in_cycle
        return Decision(RotationAction.RECOVER, f"{why}; creating a replacement ({left} left in this cycle)")
    return Decision(
        RotationAction.WIPE_AND_RESTART,
        f"{why} and all {policy.tokens_per_cycle} tokens of this cycle are used; wiping and starting a new cycle",
    )


def _cycle_over(policy: RotationPolicy, state: TokenState, today: date) -> bool:
    if state.cycle_started_at is None:
        return True  # unknown start: ending it with a wipe gives a cycle with a known count
    return today >= utc_day(state.cycle_started_at) + timedelta(days=policy.cycle_days)


@dataclass(frozen=True)
class _Slot:
    """Where the stored token stands in its cycle today."""

    index: int
    last: int
    keep_days: int
    age: int | None  # days since creation; None when unknown
    served: bool  # kept its slot's days (or its age is unknown)
    extension_failed: bool  # the last extension did not lift it out of the extension window

    @classmethod
    def of(cls, policy: RotationPolicy, state: TokenState, today: date) -> _Slot:
        last = policy.tokens_per_cycle - 1
        index = min(state.slot, last)  # the policy may have changed to fewer slots
        keep_days = policy.rotate_after_days[index]
        age = (today - utc_day(state.created_at)).days if state.created_at is not None else None
        extension_failed = (
            state.extended_at is not None
            and state.expires_at is not None
            and state.expires_at - state.extended_at <= policy.extend_when_days_left * DAY
        )
        return cls(index, last, keep_days, age, age is None or age >= keep_days, extension_failed)

    def why_replace(self, policy: RotationPolicy) -> str:
        if not self.served:
            return f"extending did not lift token {self.index + 1} above {policy.extend_when_days_left} days left"
        if self.age is None:
            return "token age is unknown"
        slots = policy.tokens_per_cycle
        return f"token {self.index + 1} of {slots} is {self.age} days old (kept {self.keep_days} days)"


def decide(policy: RotationPolicy, state: TokenState, verify: VerifyResult, today: date, environment: str) -> Decision:
    """Choose this run's action. Pure: reads its arguments only.

    In order: a missing or invalid token is replaced (``RECOVER`` while the cycle has tokens
    left, else ``WIPE_AND_RESTART``), even on a second run the same day, because a dead token
    stops every pipeline. Otherwise a second run the same day does nothing. A token that has
    served its slot (or whose last extension did not lift it out of the extension window) is
    replaced: ``WIPE_AND_RESTART`` after the last slot, ``ROTATE`` while slots and budget
    remain. When a crash spent the budget early, the token is kept (and extended) until the
    cycle's calendar end, then wiped. A token kept in use is extended once it has
    ``extend_when_days_left`` days or fewer left, or when its expiry is unknown.

    :param policy: the rotation policy.
    :param state: the stored state (``TokenState()`` when nothing is stored).
    :param verify: the verify result for ``state.token`` (``VerifyResult(False)`` when there is none).
    :param today: the run's date (UTC).
    :param environment: ``CS``, ``UAT`` or ``PROD``.
    :raises RotationPolicyError: when the policy does not fit the environment.
    :raises RotationQuotaError: when the token must be replaced, extending no longer helps and
        the cycle has no token left; a person has to wipe the tokens.
    """
    policy.check(environment)
    if state.token is None:
        return _replace_lost(policy, state, "no token is stored")
    if not verify.valid:
        return _replace_lost(policy, state, "the stored token is no longer valid")

    days_left = _days_left(state, verify, today)
    if state.last_run_day == today.isoformat():
        return Decision(RotationAction.NONE, "already ran today", days_left)

    slot = _Slot.of(policy, state, today)
    if slot.served or slot.extension_failed:
        replaced = _replace_served(policy, state, slot, today, environment, days_left)
        if replaced is not None:
            return replaced
        # The budget ran out early (a lost create, or CDP counted more): keep the token until the cycle ends.
        reason = f"{slot.why_replace(policy)}, but this cycle has no token left; keeping it until the cycle ends"
    else:
        reason = f"token {slot.index + 1} of {policy.tokens_per_cycle} is {slot.age} of {slot.keep_days} days old"
    return _extend_when_due(reason, days_left, policy.extend_when_days_left)


def _replace_served(policy: RotationPolicy, state: TokenState, slot: _Slot, today: date, environment: str,
                    days_left: float | None) -> Decision | None:
    """Replace a token that served its slot: wipe after the last slot, rotate while budget remains.

    ``None`` when the token must be kept instead (the budget ran out before the cycle's end).
    """
    why = slot.why_replace(policy)
    if slot.served and slot.index == slot.last:
        return Decision(RotationAction.WIPE_AND_RESTART, f"{why}: cycle complete, wiping and restarting", days_left)
    if slot.index < slot.last and state.tokens_created_in_cycle < policy.tokens_per_cycle:
        next_token = state.tokens_created_in_cycle + 1
        return Decision(RotationAction.ROTATE, f"{why}: creating token {next_token}", days_left)
    if _cycle_over(policy, state, today):
        why += " and the cycle is over"
        return Decision(RotationAction.WIPE_AND_RESTART, f"{why}: wiping and restarting", days_left)
    if slot.extension_failed:
        raise RotationQuotaError(
            f"The Acquia CDP token in {environment.upper()} has {days_left:.1f} days left, extending it no "
            f"longer prolongs it, and all {policy.tokens_per_cycle} tokens of this cycle are used, so "
            "creating another would exceed the limit. By hand: wipe all tokens of the integration user "
            "(DELETE /token with its Basic credentials), then delete the stored token state; the next "
            "run starts a new cycle."
        )
    return None


def _extend_when_due(reason: str, days_left: float | None, window: int) -> Decision:
    """Extend a token kept in use once it has ``window`` days or fewer left, or an unknown expiry."""
    if days_left is None:
        return Decision(
            RotationAction.EXTEND,
            f"{reason}; its expiry is not tracked yet (a token adopted from outside, or a state from an older "
            "version), extending it to learn it",
            None,
        )
    if days_left <= window:
        return Decision(RotationAction.EXTEND, f"{reason}; {days_left:.1f} days left, extending", days_left)
    return Decision(RotationAction.NONE, f"{reason}; {days_left:.1f} days left", days_left)
