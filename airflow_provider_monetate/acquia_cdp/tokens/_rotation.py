"""The daily rotation run: read the state, decide, act against CDP, store the result.

Running it
----------
:func:`run_rotation` carries out a decision against any :class:`TokenApi` (the CDP hook's
adapter, or a fake in tests) and a token store. It is meant to run once a day; a second run
on the same day does nothing unless the stored token is unusable. Runs must not overlap
(``max_active_runs=1`` or a one-slot pool): two concurrent creates would invalidate each
other's token.

Crash safety
------------
The state counts a creation *before* CDP is asked to create (:meth:`TokenState.before_create`
is written to the store first), so the stored ``tokens_created_in_cycle`` is never lower than
the number of creations CDP has seen in the cycle. If a run dies after CDP created a token but
before the token was stored, the next run finds the stored token invalid (or still valid, in
the other reading) and replaces it from the remaining budget, or wipes and restarts when the
budget is spent. The lost creation's slot is skipped, so that cycle ends early; it never holds
more tokens than the limit. A wipe resets CDP's count to zero, so a wipe followed by a create
is always within the limit whatever the state says.

Readings
--------
Every verify of the stored token goes into the state (:meth:`TokenState.after_verify`), and the
decision sees the expiry in use, the earlier of the one tracked from the last create or extend
and the one CDP reported: right whether ``expires_in`` counts down or is the fixed lifetime.
The first time CDP reports the same ``expires_in`` on two days, the run logs (once per state)
that it reports the fixed lifetime. A create refused for the limit (any reading of how CDP
refuses: the adapter recognises it) makes the run believe CDP's count. No Airflow imports.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

from airflow_provider_monetate.acquia_cdp.tokens._decision import Decision, IssuedToken, VerifyResult, decide
from airflow_provider_monetate.acquia_cdp.tokens._policy import RotationPolicy
from airflow_provider_monetate.acquia_cdp.tokens._state import RotationAction, TokenState, utc_day
from airflow_provider_monetate.exceptions import TokenLimitReachedError

if TYPE_CHECKING:
    from airflow_provider_monetate.acquia_cdp.tokens._store import TokenStore

__all__ = ["TokenApi", "run_rotation"]

_LOG = logging.getLogger(__name__)


class TokenApi(Protocol):
    """The CDP token calls :func:`run_rotation` needs; an adapter over the CDP hook provides them."""

    def verify(self, token: str) -> VerifyResult:
        """Verify a token; an invalid token is a result, not an error."""

    def create(self) -> IssuedToken:
        """Create a token and return it; raise :class:`TokenLimitReachedError` when CDP refuses for the limit."""

    def extend(self, token: str) -> None:
        """Extend a token."""

    def delete(self, token: str) -> None:
        """Delete one token; a token that is already invalid is not an error."""

    def wipe(self) -> None:
        """Wipe all tokens of the account."""


def _verified(state: TokenState, verify: VerifyResult, now: float) -> TokenState:
    """The state after a verify of its token (unchanged when CDP rejected the token)."""
    return state.after_verify(verify.expires_in, now) if verify.valid else state


def _apply(
    decision: Decision, policy: RotationPolicy, state: TokenState, store: TokenStore, api: TokenApi, now: float
) -> TokenState:
    action = decision.action
    if action is RotationAction.EXTEND:
        api.extend(state.token)
        return _verified(state.after_extend(now), api.verify(state.token), now)
    if action is RotationAction.NONE:
        return state
    previous = state.token
    if action is RotationAction.WIPE_AND_RESTART:
        api.wipe()
        state = state.after_wipe(now)
    state = state.before_create()
    store.write(state)  # count the creation before CDP does (see "Crash safety")
    issued = api.create()
    state = state.after_create(issued.token, now, policy.name, issued.expires_in)
    store.write(state)  # the new token is safe in the store before anything else can fail
    state = _verified(state, api.verify(issued.token), now)
    store.write(state)
    if action is RotationAction.ROTATE and previous is not None:
        api.delete(previous)
    return state


def _observe(state: TokenState, verify: VerifyResult, now: float, log: logging.Logger) -> TokenState:
    """Take in the run's first verify; log once when it shows CDP reports the fixed lifetime."""
    observed = _verified(state, verify, now)
    if observed.fixed_lifetime_since is not None and state.fixed_lifetime_since is None:
        log.info(
            "Acquia CDP reported the same expires_in (%s s) for the stored token on %s and %s, with no create or "
            "extend between: it reports the token's fixed lifetime, not the seconds left. The rotation keeps "
            "using the expiry it tracks from each create and extend, so nothing needs changing.",
            int(verify.expires_in), state.observed_on, observed.fixed_lifetime_since,
        )
    return observed


def run_rotation(
    policy: RotationPolicy, environment: str, store: TokenStore, api: TokenApi, now: float,
    log: logging.Logger | None = None,
) -> tuple[Decision, TokenState]:
    """Read the state, decide, act, and store the result; the whole daily run.

    Writes follow the order in "Crash safety" above, so a run may die at any point.

    :param policy: the rotation policy.
    :param environment: ``CS``, ``UAT`` or ``PROD``.
    :param store: where the state lives.
    :param api: the CDP token calls.
    :param now: the current time, epoch seconds.
    :param log: where to say what the run learnt about CDP (default: this module's logger).
    :return: the decision taken and the state written.
    """
    today = utc_day(now)
    state = store.read() or TokenState()
    verify = api.verify(state.token) if state.token is not None else VerifyResult(valid=False)
    state = _observe(state, verify, now, log or _LOG)
    # The decision sees the expiry in use, whichever way CDP reports expires_in.
    verify = VerifyResult(True, state.expires_in_at(now)) if verify.valid else verify
    decision = decide(policy, state, verify, today, environment)
    try:
        state = _apply(decision, policy, state, store, api, now)
    except TokenLimitReachedError:
        # CDP has counted more creations than the state (an adopted or restored state):
        # believe CDP and decide again, which keeps a valid token or wipes. Start from the
        # stored state: a wipe may have preceded the refused create.
        state = (store.read() or state).after_create_refused(policy.tokens_per_cycle)
        store.write(state)
        decision = decide(policy, state, verify, today, environment)
        state = _apply(decision, policy, state, store, api, now)
    state = state.mark_run(today, decision.action)
    store.write(state)
    return decision, state
