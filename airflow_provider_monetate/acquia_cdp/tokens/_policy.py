"""Acquia CDP token rotation policies: how long each token of a cycle is kept, and when to extend.

CDP bearer tokens live 180 days (the seed: a verify reports ``expires_in`` = 15,599,999 s,
which may be the seconds left or the fixed lifetime: ``_state`` tracks the expiry itself). Each
environment allows only so many tokens (``_environments.TOKEN_LIMITS``: CS 5, UAT 3, PROD 3);
here that is read as a budget of *creations per cycle*, where a "wipe all tokens"
(``DELETE /token`` with Basic credentials) ends the cycle and restores the budget.

A :class:`RotationPolicy` splits a cycle into slots, one per token: the token of slot ``i`` is
kept ``rotate_after_days[i]`` days and then replaced; when the last slot's time is up the
cycle ends with a wipe and a new cycle starts. While a token is in use it is extended
whenever it has ``extend_when_days_left`` days or fewer left. Pure: no Airflow imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_monetate.acquia_cdp._environments import token_limit
from airflow_provider_monetate.exceptions import RotationPolicyError

__all__ = [
    "ACCELERATED",
    "BUILT_IN_POLICIES",
    "COMBINED",
    "DAY",
    "EXTENDED",
    "TOKEN_LIFETIME_DAYS",
    "TOKEN_LIFETIME_SECONDS",
    "RotationPolicy",
    "custom_policy",
    "get_policy",
]

DAY = 86400
TOKEN_LIFETIME_DAYS = 180
#: The seed's ``expires_in`` of a token: its lifetime, used when CDP's create answer gives none.
TOKEN_LIFETIME_SECONDS = 15_599_999


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RotationPolicyError(f"{what} must be a whole number of at least 1, got {value!r}.")
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
            raise RotationPolicyError(f"Policy {self.name!r}: rotate_after_days must be a list of days, one per token.")
        # Accept a list (a DAG param is JSON) but keep the policy hashable.
        object.__setattr__(self, "rotate_after_days", tuple(self.rotate_after_days))
        if not self.rotate_after_days:
            raise RotationPolicyError(f"Policy {self.name!r}: rotate_after_days needs at least one slot.")
        for slot, days in enumerate(self.rotate_after_days, start=1):
            _positive_int(days, f"Policy {self.name!r}: rotate_after_days of token {slot}")
        _positive_int(self.extend_when_days_left, f"Policy {self.name!r}: extend_when_days_left")
        if self.extend_when_days_left >= TOKEN_LIFETIME_DAYS:
            # A fresh or just-extended token would already be inside the window: extend every day.
            raise RotationPolicyError(
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
        :raises RotationPolicyError: when a cycle needs more tokens than the environment allows.
        """
        limit = token_limit(environment)
        if self.tokens_per_cycle > limit:
            raise RotationPolicyError(
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
    :raises RotationPolicyError: for an unknown name or a malformed dict.
    """
    if isinstance(spec, RotationPolicy):
        return spec
    if isinstance(spec, str):
        try:
            return BUILT_IN_POLICIES[spec.strip().lower()]
        except KeyError:
            raise RotationPolicyError(
                f"Unknown rotation policy {spec!r}; use one of {', '.join(BUILT_IN_POLICIES)} or a dict."
            ) from None
    if not isinstance(spec, dict):
        raise RotationPolicyError(f"A rotation policy is a name or a dict, got {type(spec).__name__}.")
    allowed = {"name", "rotate_after_days", "extend_when_days_left", "tokens_per_cycle"}
    unknown = set(spec) - allowed
    missing = {"rotate_after_days", "extend_when_days_left"} - set(spec)
    if unknown or missing:
        raise RotationPolicyError(
            f"Rotation policy dict: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}; "
            f"allowed keys are {sorted(allowed)}."
        )
    name = str(spec.get("name", "custom"))
    if isinstance(spec["rotate_after_days"], list | tuple):
        if "tokens_per_cycle" in spec and spec["tokens_per_cycle"] != len(spec["rotate_after_days"]):
            raise RotationPolicyError(
                "Rotation policy dict: tokens_per_cycle must equal the length of rotate_after_days."
            )
        return RotationPolicy(name, tuple(spec["rotate_after_days"]), spec["extend_when_days_left"])
    if "tokens_per_cycle" not in spec:
        raise RotationPolicyError("Rotation policy dict: a single rotate_after_days number needs tokens_per_cycle.")
    return custom_policy(spec["rotate_after_days"], spec["extend_when_days_left"], spec["tokens_per_cycle"], name)
