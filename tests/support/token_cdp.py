"""A day-by-day simulation of token rotation against CDP's token rules held in memory.

``FakeCdp`` implements the rotation's ``TokenApi`` with a few lines of CDP's rules under each
reading of the documents (the emulator's readings of the same names: what ``expires_in``
reports, whether a create past the limit invalidates or is refused, which older tokens a
create invalidates, how an extension moves the expiry) and can crash at chosen points;
``Simulation`` runs the daily rotation against it and checks, every day, that a valid token
is stored and no cycle creates more tokens than allowed. ``GridRow`` and ``format_table``
print one line per combination of a grid run (here and through the emulator).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timezone

from airflow_provider_monetate.acquia_cdp._environments import TOKEN_LIMITS
from airflow_provider_monetate.acquia_cdp.tokens import (
    IssuedToken,
    RotationAction,
    RotationPolicy,
    TokenState,
    VerifyResult,
    run_rotation,
)
from airflow_provider_monetate.acquia_cdp.tokens._policy import DAY
from airflow_provider_monetate.exceptions import TokenLimitReachedError
from airflow_provider_monetate.testing import InMemoryTokenStore

LIFETIME = 15_599_999  # expires_in of a fresh token, per the seed (180.56 days)
START = datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp()
RUN_AT = 2 * 3600  # the daily run starts at 02:00 UTC
YEARS_3 = 1096
TODAY = date(2025, 6, 1)  # "today" of the single-decision tests, run at NOW
NOW = datetime(2025, 6, 1, 2, tzinfo=timezone.utc).timestamp()


def days_ago(days: float) -> float:
    return NOW - days * DAY


def state(**changes) -> TokenState:
    """A healthy mid-cycle state: token 1 of 3, created 10 days ago, run yesterday."""
    base = TokenState(
        token="secret-token",
        created_at=days_ago(10),
        expires_at=days_ago(10) + LIFETIME,
        cycle_started_at=days_ago(10),
        tokens_created_in_cycle=1,
        policy="extended",
        slot=0,
        last_action="none",
        last_run_day="2025-05-31",
    )
    return replace(base, **changes)


def valid(days_left: float) -> VerifyResult:
    return VerifyResult(True, days_left * DAY)


class Crash(Exception):
    """The worker died (or the response was lost) in the middle of a run."""


class FakeCdp:
    """CDP's token rules, in memory, implementing ``TokenApi``; the defaults are the seed's readings.

    ``expires_in``: ``fixed`` (a verify always reports the lifetime) or ``countdown`` (the seconds
    left). ``limit``: ``invalidate`` (a create is never refused) or ``refuse`` (the create after
    ``limit`` creates since the last wipe is refused). ``invalidation``: what a create does to
    earlier tokens: ``all_previous`` (they all die) or ``evict_oldest`` (they stay valid; past
    the limit the oldest dies). ``extend``: ``add`` adds a full lifetime to the expiry, ``reset``
    sets it to a full lifetime from now, ``once`` works (as reset) only the first time for a token.
    ``crash`` names the next call that dies: ``before_create``, ``after_create``, ``after_wipe``;
    ``crash_plan`` holds ``(point, n)`` pairs: the n-th call reaching that point dies.
    """

    def __init__(self, environment: str, expires_in: str = "fixed", limit: str = "invalidate",
                 invalidation: str = "all_previous", extend: str = "add") -> None:
        self.limit = TOKEN_LIMITS[environment]
        self.expires_in = expires_in
        self.limit_reading = limit
        self.invalidation = invalidation
        self.extend_mode = extend
        self.now = START
        self.expiry: dict[str, float] = {}  # live tokens, oldest first
        self.extended: set[str] = set()
        self.created_since_wipe = 0
        self.most_in_a_cycle = 0
        self.refused = 0
        self.created: list[int] = []
        self.wiped: list[int] = []
        self.extensions: list[int] = []
        self.crash: str | None = None
        self.crash_plan: set[tuple[str, int]] = set()
        self.calls: Counter[str] = Counter()
        self.crashes = 0

    def day(self) -> int:
        return int((self.now - START) // DAY)

    def valid(self, token: str | None) -> bool:
        return token in self.expiry and self.now < self.expiry[token]

    def _crash_at(self, point: str) -> None:
        self.calls[point] += 1
        if self.crash == point or (point, self.calls[point]) in self.crash_plan:
            self.crash = None
            self.crashes += 1
            raise Crash(point)

    def verify(self, token: str) -> VerifyResult:
        if not self.valid(token):
            return VerifyResult(False)
        return VerifyResult(True, LIFETIME if self.expires_in == "fixed" else self.expiry[token] - self.now)

    def create(self) -> IssuedToken:
        self._crash_at("before_create")
        if self.created_since_wipe >= self.limit and self.limit_reading == "refuse":
            self.refused += 1
            raise TokenLimitReachedError("token limit reached")
        if self.invalidation == "all_previous":
            self.expiry.clear()
        token = f"token-{len(self.created) + 1}"
        self.expiry[token] = self.now + LIFETIME
        while len(self.expiry) > self.limit:
            del self.expiry[next(iter(self.expiry))]
        self.created_since_wipe += 1
        self.most_in_a_cycle = max(self.most_in_a_cycle, self.created_since_wipe)
        self.created.append(self.day())
        self._crash_at("after_create")
        return IssuedToken(token, LIFETIME)

    def extend(self, token: str) -> None:
        assert self.valid(token), "extending a dead token"
        self.extensions.append(self.day())
        if self.extend_mode == "once" and token in self.extended:
            return
        self.extended.add(token)
        base = self.expiry[token] if self.extend_mode == "add" else self.now
        self.expiry[token] = base + LIFETIME

    def delete(self, token: str) -> None:
        self.expiry.pop(token, None)

    def wipe(self) -> None:
        self.expiry.clear()
        self.created_since_wipe = 0
        self.wiped.append(self.day())
        self._crash_at("after_wipe")


class Simulation:
    """One token store and one fake CDP, run once a day (or skipped, or crashed).

    ``strict`` (default) asserts every day; otherwise lockouts and refusals are only recorded,
    for a grid that reports every combination before asserting (:func:`grid_row`).
    """

    def __init__(self, policy: RotationPolicy, environment: str, strict: bool = True, **cdp_options) -> None:
        self.policy = policy
        self.environment = environment
        self.strict = strict
        self.cdp = FakeCdp(environment, **cdp_options)
        self.store = InMemoryTokenStore()
        self.lockout_days: list[int] = []  # days whose run found the stored token dead
        self.expected_refusals = 0
        self.crashed = False
        self.actions: dict[int, RotationAction] = {}

    def stored_token_valid(self) -> bool:
        stored = self.store.read()
        return stored is not None and self.cdp.valid(stored.token)

    def run(self, now: float) -> None:
        """One attempt of the daily run; a crash leaves the store as it was at that moment."""
        self.cdp.now = now
        try:
            decision, _ = run_rotation(self.policy, self.environment, self.store, self.cdp, now)
        except Crash:
            self.crashed = True
            return
        self.crashed = False
        self.actions[self.cdp.day()] = decision.action
        assert self.stored_token_valid() or not self.strict, f"no valid token after the run on day {self.cdp.day()}"

    def day(self, day: int, run: bool = True, crash: str | None = None, retry: bool = False) -> None:
        now = START + day * DAY + RUN_AT
        self.cdp.now = now
        # Pipelines use the token all day: it must still be valid when the next run starts.
        if day > 0 and not self.stored_token_valid():
            assert self.crashed or not self.strict, f"token lapsed before day {day} without a crash"
            self.lockout_days.append(day)
        if run:
            self.cdp.crash = crash
            self.run(now)
            if self.crashed and retry:  # Airflow's task retry, five minutes later
                self.run(now + 300)
        if self.strict:
            assert self.cdp.refused <= self.expected_refusals, "a create went past the environment's limit"
            assert self.cdp.most_in_a_cycle <= self.cdp.limit


def simulate(policy: RotationPolicy, environment: str, days: int = YEARS_3, **cdp_options) -> Simulation:
    simulation = Simulation(policy, environment, **cdp_options)
    for day in range(days):
        simulation.day(day)
    return simulation


@dataclass(frozen=True)
class GridRow:
    """One combination of a rotation grid and what three years of it did."""

    reading: str
    policy: str
    env: str
    creates: int
    wipes: int
    extensions: int
    lockout_days: int
    refused: int
    over_limit: int  # creates past the environment's limit in some cycle


def format_table(rows: list[GridRow]) -> str:
    """The rows as an aligned text table, one line per combination, with a header."""
    names = [f.name for f in fields(GridRow)]
    cells = [names, *[[str(getattr(row, name)) for name in names] for row in rows]]
    widths = [max(len(line[i]) for line in cells) for i in range(len(names))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in cells)


def grid_row(simulation: Simulation, reading: str) -> GridRow:
    """What a finished in-memory simulation did, as a table row."""
    cdp = simulation.cdp
    return GridRow(reading, simulation.policy.name, simulation.environment, len(cdp.created), len(cdp.wiped),
                   len(cdp.extensions), len(simulation.lockout_days), cdp.refused,
                   max(0, cdp.most_in_a_cycle - cdp.limit))


# Days on which each built-in policy creates a token in 1096 days, and the derivation:
#   extended    (360, 360, 360): tokens on days 0, 360, 720; day 1080 ends the 1080-day cycle
#               with a wipe and starts the next one: 3 tokens per ~3 years.
#   accelerated (90, 90, 185):   0, 90, 180, then a wipe every 365 days (365, 730, 1095):
#               3 tokens per year.
#   combined    (90, 180, 270):  0, 90, 270, then a wipe every 540 days (540, 1080):
#               3 tokens per ~1.5 years.
# Extensions (token lifetime 180.56 days, extended at <= 30 days left while not being replaced):
#   extended: each 360-day token twice (at age 151 and again ~30 days before its replacement);
#   accelerated: the 185-day third token once (age 151); combined: the 180-day second token
#   once (its replacement is inside the window) and the 270-day third token once.
SCHEDULES = {
    "extended": dict(created=[0, 360, 720, 1080], wiped=[1080], extensions=6),
    "accelerated": dict(created=[0, 90, 180, 365, 455, 545, 730, 820, 910, 1095], wiped=[365, 730, 1095], extensions=3),
    "combined": dict(created=[0, 90, 270, 540, 630, 810, 1080], wiped=[540, 1080], extensions=4),
}
