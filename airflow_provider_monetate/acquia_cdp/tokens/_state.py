"""What the token store keeps between rotation runs, and how each step of a run changes it.

:class:`TokenState` is immutable: every step (``before_create``, ``after_create``,
``after_extend``, ``after_wipe``, ...) returns a new state, which the run writes to the store
in the order that keeps it crash-safe (see ``_rotation``). Pure: no Airflow imports.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from datetime import date, datetime, timezone
from enum import Enum

from airflow_provider_monetate.exceptions import StateFileError

__all__ = ["RotationAction", "TokenState", "utc_day"]


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
        :raises StateFileError: when the text is not a JSON object.
        """
        data = json.loads(text)
        if not isinstance(data, dict):
            raise StateFileError("Token state JSON must be an object.")
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
