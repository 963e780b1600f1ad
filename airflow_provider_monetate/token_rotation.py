"""When to verify, extend, rotate or wipe an Acquia CDP bearer token: pure decisions, no Airflow.

The model
---------
CDP bearer tokens live 180 days (a verify reports ``expires_in`` = 15,599,999 s). Each
environment allows only so many tokens (``TOKEN_LIMITS``: CS 5, UAT 3, PROD 3); here that is
read as a budget of *creations per cycle*, where a "wipe all tokens" (``DELETE /token`` with
Basic credentials) ends the cycle and restores the budget. Per Acquia, creating a token
invalidates the earlier ones; another reading is that earlier tokens stay valid up to the
limit. Nothing below depends on which reading is true.

A :class:`RotationPolicy` splits a cycle into slots, one per token: the token of slot ``i`` is
kept ``rotate_after_days[i]`` days and then replaced; when the last slot's time is up the
cycle ends with a wipe and a new cycle starts. While a token is in use it is extended
whenever it has ``extend_when_days_left`` days or fewer left. :func:`decide` turns the stored
:class:`TokenState`, a fresh verify and today's date into one :class:`RotationAction`.

Running it
----------
:func:`run_rotation` carries out a decision against any :class:`TokenApi` (the CDP hook, or a
fake in tests) and a token store. It is meant to run once a day; a second run on the same day
does nothing unless the stored token is unusable. Runs must not overlap (``max_active_runs=1``
or a one-slot pool): two concurrent creates would invalidate each other's token.

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
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from datetime import date, datetime, timedelta, timezone
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from airflow_provider_monetate.token_store import TokenStore

DAY = 86400
TOKEN_LIFETIME_DAYS = 180
TOKEN_LIMITS = {"CS": 5, "UAT": 3, "PROD": 3}


def token_limit(environment: str) -> int:
    """The number of tokens an environment allows per cycle.

    :param environment: ``CS``, ``UAT`` or ``PROD`` (any case).
    :raises ValueError: for any other environment.
    """
    try:
        return TOKEN_LIMITS[environment.upper()]
    except (KeyError, AttributeError):
        raise ValueError(
            f"Unknown Acquia CDP environment {environment!r}; expected one of {', '.join(TOKEN_LIMITS)}."
        ) from None


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a whole number of at least 1, got {value!r}.")
    return value


@dataclass(frozen=True)
class RotationPolicy:
    """How long each token of a cycle is kept, and when a token in use is extended.

    :param name: shown in logs and stored with the state.
    :param rotate_after_days: one entry per token of a cycle: days that token is kept before it
        is replaced. The last entry is when the cycle ends with a wipe and starts again.
    :param extend_when_days_left: extend the token in use once it has this many days left or
        fewer. It is also the safety margin: the daily run may be skipped on up to
        ``extend_when_days_left - 1`` consecutive days without the token lapsing.
    """

    name: str
    rotate_after_days: tuple[int, ...]
    extend_when_days_left: int

    def __post_init__(self) -> None:
        if not isinstance(self.rotate_after_days, list | tuple):
            raise ValueError(f"Policy {self.name!r}: rotate_after_days must be a list of days, one per token.")
        # Accept a list (a DAG param is JSON) but keep the policy hashable.
        object.__setattr__(self, "rotate_after_days", tuple(self.rotate_after_days))
        if not self.rotate_after_days:
            raise ValueError(f"Policy {self.name!r}: rotate_after_days needs at least one slot.")
        for slot, days in enumerate(self.rotate_after_days, start=1):
            _positive_int(days, f"Policy {self.name!r}: rotate_after_days of token {slot}")
        _positive_int(self.extend_when_days_left, f"Policy {self.name!r}: extend_when_days_left")
        if self.extend_when_days_left >= TOKEN_LIFETIME_DAYS:
            # A fresh or just-extended token would already be inside the window: extend every day.
            raise ValueError(
                f"Policy {self.name!r}: extend_when_days_left ({self.extend_when_days_left}) must be below "
                f"the {TOKEN_LIFETIME_DAYS}-day token lifetime."
            )

    @property
    def tokens_per_cycle(self) -> int:
        """Tokens one cycle creates (one per slot)."""
        return len(self.rotate_after_days)

    @property
    def cycle_days(self) -> int:
        """Length of a full cycle in days."""
        return sum(self.rotate_after_days)

    def check(self, environment: str) -> None:
        """Check the policy fits an environment's token limit.

        :param environment: ``CS``, ``UAT`` or ``PROD``.
        :raises ValueError: when a cycle needs more tokens than the environment allows.
        """
        limit = token_limit(environment)
        if self.tokens_per_cycle > limit:
            raise ValueError(
                f"Policy {self.name!r} uses {self.tokens_per_cycle} tokens per cycle but "
                f"{environment.upper()} allows {limit}; use at most {limit} slots."
            )

    def to_dict(self) -> dict[str, Any]:
        """The policy as JSON-ready data; :func:`get_policy` reads it back."""
        return {
            "name": self.name,
            "rotate_after_days": list(self.rotate_after_days),
            "extend_when_days_left": self.extend_when_days_left,
        }


EXTENDED = RotationPolicy("extended", (360, 360, 360), 30)
"""Acquia's extended cycle: each token is extended past its 180 days and replaced after 360;
the third is wiped with the others after its 360 days. Three tokens per 1080 days (~3 years)."""

ACCELERATED = RotationPolicy("accelerated", (90, 90, 185), 30)
"""Acquia's accelerated cycle: a new token every 90 days, three tokens per year. Two 90-day
rotations leave 185 days of the 365-day year for the third token, which is extended once; the
cycle then wipes and restarts on its anniversary. (Three plain 90-day slots would restart
every 270 days and use about four tokens a year.)"""

COMBINED = RotationPolicy("combined", (90, 180, 270), 30)
"""Acquia's combined cycle: rotations at 90 and 180 days, then the third token is kept 270
days (extended as needed): three tokens per 540 days (~1.5 years)."""

BUILT_IN_POLICIES = {policy.name: policy for policy in (EXTENDED, ACCELERATED, COMBINED)}


def custom_policy(
    rotate_after_days: int, extend_when_days_left: int, tokens_per_cycle: int, name: str = "custom"
) -> RotationPolicy:
    """A policy whose tokens are all kept the same number of days.

    :param rotate_after_days: days each token is kept; the cycle lasts
        ``rotate_after_days * tokens_per_cycle`` days.
    :param extend_when_days_left: extend the token in use at this many days left or fewer.
    :param tokens_per_cycle: tokens per cycle (check it against the environment with
        :meth:`RotationPolicy.check`).
    :param name: shown in logs and stored with the state.
    """
    slots = _positive_int(tokens_per_cycle, "tokens_per_cycle")
    return RotationPolicy(name, (rotate_after_days,) * slots, extend_when_days_left)


def get_policy(spec: str | dict[str, Any] | RotationPolicy) -> RotationPolicy:
    """Resolve a DAG param into a policy.

    :param spec: a built-in name (``extended``, ``accelerated``, ``combined``; any case); a
        dict as made by :meth:`RotationPolicy.to_dict`; a dict of :func:`custom_policy`
        arguments (``rotate_after_days`` as one number, ``extend_when_days_left``,
        ``tokens_per_cycle``, optional ``name``); or a policy, returned as is.
    :raises ValueError: for an unknown name or a malformed dict.
    """
    if isinstance(spec, RotationPolicy):
        return spec
    if isinstance(spec, str):
        try:
            return BUILT_IN_POLICIES[spec.strip().lower()]
        except KeyError:
            raise ValueError(
                f"Unknown rotation policy {spec!r}; use one of {', '.join(BUILT_IN_POLICIES)} or a dict."
            ) from None
    if not isinstance(spec, dict):
        raise ValueError(f"A rotation policy is a name or a dict, got {type(spec).__name__}.")
    allowed = {"name", "rotate_after_days", "extend_when_days_left", "tokens_per_cycle"}
    unknown = set(spec) - allowed
    missing = {"rotate_after_days", "extend_when_days_left"} - set(spec)
    if unknown or missing:
        raise ValueError(
            f"Rotation policy dict: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}; "
            f"allowed keys are {sorted(allowed)}."
        )
    name = str(spec.get("name", "custom"))
    if isinstance(spec["rotate_after_days"], list | tuple):
        if "tokens_per_cycle" in spec and spec["tokens_per_cycle"] != len(spec["rotate_after_days"]):
            raise ValueError("Rotation policy dict: tokens_per_cycle must equal the length of rotate_after_days.")
        return RotationPolicy(name, tuple(spec["rotate_after_days"]), spec["extend_when_days_left"])
    if "tokens_per_cycle" not in spec:
        raise ValueError("Rotation policy dict: a single rotate_after_days number needs tokens_per_cycle.")
    return custom_policy(spec["rotate_after_days"], spec["extend_when_days_left"], spec["tokens_per_cycle"], name)


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


class RotationQuotaError(RuntimeError):
    """The token must be replaced, but the cycle has no token left and is not over yet."""


@dataclass(frozen=True)
class VerifyResult:
    """What a verify (``GET /token`` with the token as Bearer) said.

    :param valid: whether CDP accepted the token.
    :param expires_in: seconds the token has left, or ``None`` when CDP did not say.
    """

    valid: bool
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


def _utc_day(epoch: float) -> date:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).date()


@dataclass(frozen=True, repr=False)
class TokenState:
    """What the store keeps between runs. Times are epoch seconds (UTC).

    ``repr``/``str`` mask the token; :meth:`to_json` does not (it is what the store saves).

    :param token: the bearer token in use, or ``None``.
    :param created_at: when the token was created (or adopted).
    :param expires_at: the token's expiry as last read from CDP.
    :param extended_at: when the token was last extended, ``None`` since its creation.
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

    def __repr__(self) -> str:
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        if shown["token"] is not None:
            shown["token"] = "***"
        return f"TokenState({', '.join(f'{key}={value!r}' for key, value in shown.items())})"

    def to_json(self) -> str:
        """The state as JSON, token included."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TokenState:
        """Read :meth:`to_json` output. Unknown keys (from a newer version) are ignored.

        :param text: a JSON object.
        :raises ValueError: when the text is not a JSON object.
        """
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("Token state JSON must be an object.")
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

    @classmethod
    def adopt(cls, token: str, now: float) -> TokenState:
        """Start tracking a token made outside this module (e.g. pasted into a Variable).

        Its real age and the cycle's count are unknown: the schedule starts now and the token
        counts as the cycle's first creation. If CDP has seen more, it refuses a create and
        :meth:`after_create_refused` corrects the count.

        :param token: the existing bearer token.
        :param now: the current time.
        """
        return cls(token=token, created_at=now, cycle_started_at=now, tokens_created_in_cycle=1)

    def before_create(self) -> TokenState:
        """Count a creation before asking CDP for it; write this state first."""
        return replace(self, tokens_created_in_cycle=self.tokens_created_in_cycle + 1)

    def after_create(self, token: str, expires_at: float | None, now: float, policy: str) -> TokenState:
        """Store a newly created token; it takes the slot of the creation counted last.

        :param token: the new bearer token.
        :param expires_at: its expiry as read from CDP.
        :param now: the current time.
        :param policy: name of the policy in force.
        """
        return replace(
            self,
            token=token,
            created_at=now,
            expires_at=expires_at,
            extended_at=None,
            cycle_started_at=self.cycle_started_at if self.cycle_started_at is not None else now,
            policy=policy,
            slot=max(self.tokens_created_in_cycle - 1, 0),
        )

    def after_extend(self, expires_at: float | None, now: float) -> TokenState:
        """Record an extension and the expiry CDP reported after it.

        :param expires_at: the expiry read back after extending.
        :param now: the current time.
        """
        return replace(self, expires_at=expires_at, extended_at=now)

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
            cycle_started_at=now,
            tokens_created_in_cycle=0,
            slot=0,
        )

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
    return today >= _utc_day(state.cycle_started_at) + timedelta(days=policy.cycle_days)


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
    :raises ValueError: when the policy does not fit the environment.
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

    last_slot = policy.tokens_per_cycle - 1
    slot = min(state.slot, last_slot)  # the policy may have changed to fewer slots
    keep_days = policy.rotate_after_days[slot]
    age = (today - _utc_day(state.created_at)).days if state.created_at is not None else None
    served = age is None or age >= keep_days
    window = policy.extend_when_days_left
    extension_failed = (
        state.extended_at is not None
        and state.expires_at is not None
        and state.expires_at - state.extended_at <= window * DAY
    )
    if served or extension_failed:
        if not served:
            why = f"extending did not lift token {slot + 1} above {window} days left"
        elif age is None:
            why = "token age is unknown"
        else:
            why = f"token {slot + 1} of {policy.tokens_per_cycle} is {age} days old (kept {keep_days} days)"
        if served and slot == last_slot:
            return Decision(RotationAction.WIPE_AND_RESTART, f"{why}: cycle complete, wiping and restarting", days_left)
        if slot < last_slot and state.tokens_created_in_cycle < policy.tokens_per_cycle:
            next_token = state.tokens_created_in_cycle + 1
            return Decision(RotationAction.ROTATE, f"{why}: creating token {next_token}", days_left)
        if _cycle_over(policy, state, today):
            return Decision(
                RotationAction.WIPE_AND_RESTART, f"{why} and the cycle is over: wiping and restarting", days_left
            )
        if extension_failed:
            raise RotationQuotaError(
                f"The Acquia CDP token in {environment.upper()} has {days_left:.1f} days left, extending it no "
                f"longer prolongs it, and all {policy.tokens_per_cycle} tokens of this cycle are used, so "
                "creating another would exceed the limit. By hand: wipe all tokens of the integration user "
                "(DELETE /token with its Basic credentials), then delete the stored token state; the next "
                "run starts a new cycle."
            )
        # The budget ran out early (a lost create, or CDP counted more): keep the token until the cycle ends.
        reason = f"{why}, but this cycle has no token left; keeping it until the cycle ends"
    else:
        reason = f"token {slot + 1} of {policy.tokens_per_cycle} is {age} of {keep_days} days old"

    if days_left is None:
        return Decision(RotationAction.EXTEND, f"{reason}; CDP did not report its expiry, extending", None)
    if days_left <= window:
        return Decision(RotationAction.EXTEND, f"{reason}; {days_left:.1f} days left, extending", days_left)
    return Decision(RotationAction.NONE, f"{reason}; {days_left:.1f} days left", days_left)


class TokenApi(Protocol):
    """The CDP token calls :func:`run_rotation` needs; an adapter over the CDP hook provides them."""

    def verify(self, token: str) -> VerifyResult:
        """Verify a token; an invalid token is a result, not an error."""

    def create(self) -> str:
        """Create a token and return it; raise :class:`CreateRefusedError` when CDP refuses for the limit."""

    def extend(self, token: str) -> None:
        """Extend a token."""

    def delete(self, token: str) -> None:
        """Delete one token; a token that is already invalid is not an error."""

    def wipe(self) -> None:
        """Wipe all tokens of the account."""


class CreateRefusedError(Exception):
    """CDP refused to create a token because the environment's limit is reached."""


def _expiry(verify: VerifyResult, now: float) -> float | None:
    return now + verify.expires_in if verify.valid and verify.expires_in is not None else None


def _apply(
    decision: Decision, policy: RotationPolicy, state: TokenState, store: TokenStore, api: TokenApi, now: float
) -> TokenState:
    action = decision.action
    if action is RotationAction.EXTEND:
        api.extend(state.token)
        return state.after_extend(_expiry(api.verify(state.token), now), now)
    if action is RotationAction.NONE:
        return state
    previous = state.token
    if action is RotationAction.WIPE_AND_RESTART:
        api.wipe()
        state = state.after_wipe(now)
    state = state.before_create()
    store.write(state)  # count the creation before CDP does (see "Crash safety")
    token = api.create()
    state = state.after_create(token, None, now, policy.name)
    store.write(state)  # the new token is safe in the store before anything else can fail
    state = replace(state, expires_at=_expiry(api.verify(token), now))
    store.write(state)
    if action is RotationAction.ROTATE and previous is not None:
        api.delete(previous)
    return state


def run_rotation(
    policy: RotationPolicy, environment: str, store: TokenStore, api: TokenApi, now: float
) -> tuple[Decision, TokenState]:
    """Read the state, decide, act, and store the result; the whole daily run.

    Writes follow the order in "Crash safety" above, so a run may die at any point.

    :param policy: the rotation policy.
    :param environment: ``CS``, ``UAT`` or ``PROD``.
    :param store: where the state lives.
    :param api: the CDP token calls.
    :param now: the current time, epoch seconds.
    :return: the decision taken and the state written.
    """
    today = _utc_day(now)
    state = store.read() or TokenState()
    verify = api.verify(state.token) if state.token is not None else VerifyResult(valid=False)
    decision = decide(policy, state, verify, today, environment)
    try:
        state = _apply(decision, policy, state, store, api, now)
    except CreateRefusedError:
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
