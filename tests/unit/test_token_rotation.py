"""Token rotation: every decision rule, the state and its masking, and a day-by-day simulation.

The simulation drives :func:`run_rotation` against ``FakeCdp``, a few lines of CDP's token
rules in memory, for 1096 days (3 years) and checks that a valid token is stored every day,
that no cycle creates more tokens than the environment allows, and that each built-in policy
creates tokens on exactly the days its scenario in the seed document implies.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from dataclasses import replace
from datetime import date, datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_monetate.token_rotation import (
    ACCELERATED,
    BUILT_IN_POLICIES,
    COMBINED,
    DAY,
    EXTENDED,
    TOKEN_LIMITS,
    CreateRefusedError,
    Decision,
    RotationAction,
    RotationPolicy,
    RotationQuotaError,
    TokenState,
    VerifyResult,
    custom_policy,
    decide,
    get_policy,
    run_rotation,
    token_limit,
)
from airflow_provider_monetate.token_store import InMemoryTokenStore

LIFETIME = 15_599_999  # expires_in of a fresh token, per the seed (180.56 days)
START = datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp()
RUN_AT = 2 * 3600  # the daily run starts at 02:00 UTC
TODAY = date(2025, 6, 1)
NOW = datetime(2025, 6, 1, 2, tzinfo=timezone.utc).timestamp()
YEARS_3 = 1096

A = RotationAction


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


# -- policies --------------------------------------------------------------------------------


def test_built_in_policies_match_the_seed_scenarios():
    assert set(BUILT_IN_POLICIES) == {"extended", "accelerated", "combined"}
    assert (EXTENDED.rotate_after_days, EXTENDED.cycle_days) == ((360, 360, 360), 1080)
    assert (ACCELERATED.rotate_after_days, ACCELERATED.cycle_days) == ((90, 90, 185), 365)
    assert (COMBINED.rotate_after_days, COMBINED.cycle_days) == ((90, 180, 270), 540)
    for policy in BUILT_IN_POLICIES.values():
        assert policy.tokens_per_cycle == 3
        for environment in TOKEN_LIMITS:
            policy.check(environment)


def test_custom_policy_repeats_one_slot():
    policy = custom_policy(rotate_after_days=90, extend_when_days_left=20, tokens_per_cycle=5)
    assert policy == RotationPolicy("custom", (90,) * 5, 20)
    assert policy.tokens_per_cycle == 5 and policy.cycle_days == 450


@pytest.mark.parametrize("environment, limit", [("CS", 5), ("cs", 5), ("UAT", 3), ("PROD", 3)])
def test_check_enforces_the_environment_limit(environment, limit):
    custom_policy(90, 30, limit).check(environment)
    with pytest.raises(ValueError, match=f"allows {limit}"):
        custom_policy(90, 30, limit + 1).check(environment)


def test_unknown_environment_is_rejected():
    with pytest.raises(ValueError, match="Unknown Acquia CDP environment 'DEV'"):
        token_limit("DEV")
    with pytest.raises(ValueError, match="Unknown"):
        EXTENDED.check("DEV")


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: custom_policy(0, 30, 3), "rotate_after_days of token 1"),
        (lambda: custom_policy(90, 0, 3), "extend_when_days_left"),
        (lambda: custom_policy(90, 180, 3), "below the 180-day"),
        (lambda: custom_policy(90, 30, 0), "tokens_per_cycle"),
        (lambda: custom_policy(90, True, 3), "extend_when_days_left"),
        (lambda: RotationPolicy("x", (), 30), "at least one slot"),
        (lambda: RotationPolicy("x", (90, -1), 30), "token 2"),
        (lambda: RotationPolicy("x", (90, 1.5), 30), "token 2"),
        (lambda: RotationPolicy("x", 90, 30), "must be a list"),
    ],
)
def test_nonsense_thresholds_are_rejected(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_get_policy_resolves_names_dicts_and_policies():
    assert get_policy("extended") is EXTENDED
    assert get_policy(" Accelerated ") is ACCELERATED
    assert get_policy(COMBINED) is COMBINED
    for policy in [*BUILT_IN_POLICIES.values(), custom_policy(60, 10, 4, name="quarterly")]:
        assert get_policy(json.loads(json.dumps(policy.to_dict()))) == policy
    assert get_policy({"rotate_after_days": 120, "extend_when_days_left": 20, "tokens_per_cycle": 3}) == (
        RotationPolicy("custom", (120, 120, 120), 20)
    )
    assert get_policy({"rotate_after_days": [30, 60], "extend_when_days_left": 5, "tokens_per_cycle": 2}) == (
        RotationPolicy("custom", (30, 60), 5)
    )


@pytest.mark.parametrize(
    "spec, message",
    [
        ("weekly", "Unknown rotation policy 'weekly'"),
        (42, "a name or a dict"),
        ({"rotate_after_days": 90, "extend_when_days_left": 30}, "needs tokens_per_cycle"),
        ({"rotate_after_days": 90, "tokens_per_cycle": 3}, r"missing keys \['extend_when_days_left'\]"),
        ({"rotate_after_day": 90, "extend_when_days_left": 3}, r"unknown keys \['rotate_after_day'\]"),
        ({"rotate_after_days": [90, 90], "extend_when_days_left": 3, "tokens_per_cycle": 3}, "must equal"),
    ],
)
def test_get_policy_rejects_bad_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        get_policy(spec)


# -- state -------------------------------------------------------------------------------------


def test_state_round_trips_through_json():
    original = state(extended_at=days_ago(1))
    assert TokenState.from_json(original.to_json()) == original
    assert json.loads(original.to_json())["token"] == "secret-token"  # the store needs it
    assert TokenState.from_json("{}") == TokenState()


def test_state_ignores_unknown_keys_and_rejects_non_objects():
    assert TokenState.from_json('{"token": "t", "added_later": 1}') == TokenState(token="t")
    with pytest.raises(ValueError, match="must be an object"):
        TokenState.from_json('["t"]')


def test_repr_and_str_never_show_the_token():
    current = state()
    for text in (repr(current), str(current), f"{current}", repr([current]), repr(Decision(A.NONE, "x"))):
        assert "secret-token" not in text
    assert "token='***'" in repr(current)
    assert "token=None" in repr(TokenState())


def test_effects_follow_a_token_through_a_cycle():
    fresh = TokenState().before_create()
    assert fresh.tokens_created_in_cycle == 1
    first = fresh.after_create("t1", NOW + LIFETIME, NOW, "extended")
    assert (first.token, first.slot, first.created_at, first.cycle_started_at) == ("t1", 0, NOW, NOW)
    extended = first.after_extend(NOW + 2 * LIFETIME, NOW + DAY)
    assert (extended.expires_at, extended.extended_at) == (NOW + 2 * LIFETIME, NOW + DAY)
    second = extended.before_create().after_create("t2", NOW + 9 * DAY, NOW + 5 * DAY, "extended")
    assert (second.slot, second.extended_at, second.cycle_started_at) == (1, None, NOW)
    wiped = second.after_wipe(NOW + 7 * DAY)
    assert wiped == TokenState(cycle_started_at=NOW + 7 * DAY, policy="extended")
    assert second.after_create_refused(3).tokens_created_in_cycle == 3
    ran = second.mark_run(TODAY, A.ROTATE)
    assert (ran.last_run_day, ran.last_action) == ("2025-06-01", "rotate")


def test_adopt_starts_a_schedule_for_a_bare_token():
    adopted = TokenState.adopt("bare", NOW)
    assert adopted == TokenState(token="bare", created_at=NOW, cycle_started_at=NOW, tokens_created_in_cycle=1)


# -- decide: one rule per test -----------------------------------------------------------------


def test_no_token_bootstraps_with_recover():
    decision = decide(EXTENDED, TokenState(), VerifyResult(False), TODAY, "PROD")
    assert decision.action is A.RECOVER
    assert "no token is stored" in decision.reason and "3 left" in decision.reason


def test_no_token_and_no_budget_wipes():
    decision = decide(EXTENDED, TokenState(tokens_created_in_cycle=3), VerifyResult(False), TODAY, "PROD")
    assert decision.action is A.WIPE_AND_RESTART


def test_invalid_token_recovers_while_the_cycle_has_tokens():
    decision = decide(EXTENDED, state(tokens_created_in_cycle=2), VerifyResult(False), TODAY, "PROD")
    assert decision.action is A.RECOVER and "no longer valid" in decision.reason


def test_invalid_token_with_the_budget_spent_wipes_and_restarts():
    decision = decide(EXTENDED, state(tokens_created_in_cycle=3, slot=2), VerifyResult(False), TODAY, "PROD")
    assert decision.action is A.WIPE_AND_RESTART and "all 3 tokens" in decision.reason


def test_invalid_token_is_replaced_even_on_a_second_run_the_same_day():
    decision = decide(EXTENDED, state(last_run_day=TODAY.isoformat()), VerifyResult(False), TODAY, "PROD")
    assert decision.action is A.RECOVER


def test_second_run_the_same_day_does_nothing():
    old = state(created_at=days_ago(400), last_run_day=TODAY.isoformat())
    assert decide(EXTENDED, old, valid(5), TODAY, "PROD") == Decision(A.NONE, "already ran today", 5)


def test_healthy_token_is_left_alone():
    decision = decide(EXTENDED, state(), valid(170), TODAY, "PROD")
    assert decision.action is A.NONE and decision.days_left == 170
    assert "token 1 of 3 is 10 of 360 days old" in decision.reason


@pytest.mark.parametrize("days_left, action", [(30.5, A.NONE), (30, A.EXTEND), (0.01, A.EXTEND)])
def test_token_is_extended_inside_the_window(days_left, action):
    assert decide(EXTENDED, state(), valid(days_left), TODAY, "PROD").action is action


def test_token_that_served_its_slot_is_rotated():
    current = state(created_at=days_ago(360))
    decision = decide(EXTENDED, current, valid(100), TODAY, "PROD")
    assert decision.action is A.ROTATE and "creating token 2" in decision.reason
    assert decide(EXTENDED, state(created_at=days_ago(359)), valid(100), TODAY, "PROD").action is A.NONE


def test_rotation_wins_over_extension():
    assert decide(ACCELERATED, state(created_at=days_ago(90)), valid(1), TODAY, "PROD").action is A.ROTATE


def test_last_slot_that_served_ends_the_cycle():
    last = state(created_at=days_ago(185), slot=2, tokens_created_in_cycle=3)
    decision = decide(ACCELERATED, last, valid(100), TODAY, "PROD")
    assert decision.action is A.WIPE_AND_RESTART and "cycle complete" in decision.reason


def test_spent_budget_keeps_the_token_until_the_cycle_ends():
    # A crash spent token 3 while token 1 was still in use.
    spent = state(created_at=days_ago(400), cycle_started_at=days_ago(400), tokens_created_in_cycle=3)
    keep = decide(EXTENDED, spent, valid(100), TODAY, "PROD")
    assert keep.action is A.NONE and "keeping it until the cycle ends" in keep.reason
    assert decide(EXTENDED, spent, valid(20), TODAY, "PROD").action is A.EXTEND
    over = replace(spent, cycle_started_at=days_ago(1080))
    assert decide(EXTENDED, over, valid(100), TODAY, "PROD").action is A.WIPE_AND_RESTART


def test_spent_budget_never_rotates_past_the_limit():
    for created in range(3, 6):
        current = state(created_at=days_ago(400), tokens_created_in_cycle=created)
        assert decide(EXTENDED, current, valid(100), TODAY, "PROD").action is not A.ROTATE


def test_failed_extension_rotates_early():
    # Extended yesterday, yet CDP still reports only 25 days: extending no longer helps.
    failed = state(extended_at=days_ago(1), expires_at=days_ago(1) + 26 * DAY)
    decision = decide(EXTENDED, failed, valid(25), TODAY, "PROD")
    assert decision.action is A.ROTATE and "extending did not lift" in decision.reason


def test_failed_extension_without_budget_raises_with_instructions():
    failed = state(extended_at=days_ago(1), expires_at=days_ago(1) + 26 * DAY, tokens_created_in_cycle=3, slot=2)
    with pytest.raises(RotationQuotaError, match="wipe all tokens of the integration user") as raised:
        decide(EXTENDED, failed, valid(25), TODAY, "PROD")
    assert "secret-token" not in str(raised.value)


def test_successful_extension_is_not_mistaken_for_a_failed_one():
    # Extended 160 days ago to a full lifetime; now inside the window again: extend again.
    extended = state(created_at=days_ago(300), extended_at=days_ago(160), expires_at=days_ago(160) + LIFETIME)
    assert decide(EXTENDED, extended, valid(20.5), TODAY, "PROD").action is A.EXTEND


def test_unknown_expiry_falls_back_to_the_stored_one_or_extends():
    assert decide(EXTENDED, state(), VerifyResult(True), TODAY, "PROD").action is A.NONE
    near = state(expires_at=NOW + 20 * DAY)
    decision = decide(EXTENDED, near, VerifyResult(True), TODAY, "PROD")
    assert decision.action is A.EXTEND and 18 < decision.days_left < 20
    decision = decide(EXTENDED, state(expires_at=None), VerifyResult(True), TODAY, "PROD")
    assert decision.action is A.EXTEND and "did not report its expiry" in decision.reason


def test_unknown_age_counts_as_served():
    decision = decide(EXTENDED, state(created_at=None), valid(100), TODAY, "PROD")
    assert decision.action is A.ROTATE and "age is unknown" in decision.reason


def test_policy_with_fewer_slots_treats_a_later_slot_as_the_last():
    current = state(created_at=days_ago(185), slot=4, tokens_created_in_cycle=5)
    assert decide(ACCELERATED, current, valid(100), TODAY, "PROD").action is A.WIPE_AND_RESTART


def test_policy_too_big_for_the_environment_is_refused():
    with pytest.raises(ValueError, match="PROD allows 3"):
        decide(custom_policy(90, 30, 5), state(), valid(100), TODAY, "PROD")
    assert decide(custom_policy(90, 30, 5), state(), valid(100), TODAY, "CS").action is A.NONE


# -- the simulation ------------------------------------------------------------------------------


class Crash(Exception):
    """The worker died (or the response was lost) in the middle of a run."""


class FakeCdp:
    """CDP's token rules, in memory, implementing ``TokenApi``.

    The environment limit counts creations since the last wipe; beyond it a create is refused.
    ``reading`` picks what a create does to earlier tokens: ``newest_only`` (the seed: they all
    die) or ``oldest_evicted`` (they stay valid; beyond the limit the oldest dies).
    ``extend_mode``: ``reset`` sets the expiry to a full lifetime from now, ``add`` adds a full
    lifetime to it, ``once`` works only the first time for a token.
    ``crash`` names the next call that dies: ``before_create``, ``after_create``, ``after_wipe``;
    ``crash_plan`` holds ``(point, n)`` pairs: the n-th call reaching that point dies.
    """

    def __init__(self, environment: str, reading: str = "newest_only", extend_mode: str = "reset") -> None:
        self.limit = TOKEN_LIMITS[environment]
        self.reading = reading
        self.extend_mode = extend_mode
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
        return VerifyResult(True, self.expiry[token] - self.now) if self.valid(token) else VerifyResult(False)

    def create(self) -> str:
        self._crash_at("before_create")
        if self.created_since_wipe >= self.limit:
            self.refused += 1
            raise CreateRefusedError("token limit reached")
        if self.reading == "newest_only":
            self.expiry.clear()
        token = f"token-{len(self.created) + 1}"
        self.expiry[token] = self.now + LIFETIME
        while len(self.expiry) > self.limit:
            del self.expiry[next(iter(self.expiry))]
        self.created_since_wipe += 1
        self.most_in_a_cycle = max(self.most_in_a_cycle, self.created_since_wipe)
        self.created.append(self.day())
        self._crash_at("after_create")
        return token

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
    """One token store and one fake CDP, run once a day (or skipped, or crashed)."""

    def __init__(self, policy: RotationPolicy, environment: str, **cdp_options) -> None:
        self.policy = policy
        self.environment = environment
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
        assert self.stored_token_valid(), f"no valid token after the run on day {self.cdp.day()}"

    def day(self, day: int, run: bool = True, crash: str | None = None, retry: bool = False) -> None:
        now = START + day * DAY + RUN_AT
        self.cdp.now = now
        # Pipelines use the token all day: it must still be valid when the next run starts.
        if day > 0 and not self.stored_token_valid():
            assert self.crashed, f"token lapsed before day {day} without a crash"
            self.lockout_days.append(day)
        if run:
            self.cdp.crash = crash
            self.run(now)
            if self.crashed and retry:  # Airflow's task retry, five minutes later
                self.run(now + 300)
        assert self.cdp.refused <= self.expected_refusals, "a create went past the environment's limit"
        assert self.cdp.most_in_a_cycle <= self.cdp.limit


def simulate(policy: RotationPolicy, environment: str, days: int = YEARS_3, **cdp_options) -> Simulation:
    simulation = Simulation(policy, environment, **cdp_options)
    for day in range(days):
        simulation.day(day)
    return simulation


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


@pytest.mark.parametrize("extend_mode", ["reset", "add"])
@pytest.mark.parametrize("reading", ["newest_only", "oldest_evicted"])
@pytest.mark.parametrize("environment", ["PROD", "UAT", "CS"])
@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_three_years_of_daily_runs(name, environment, reading, extend_mode):
    policy = BUILT_IN_POLICIES[name]
    expected = SCHEDULES[name]
    simulation = simulate(policy, environment, reading=reading, extend_mode=extend_mode)
    cdp = simulation.cdp
    assert simulation.lockout_days == []
    assert cdp.created == expected["created"]
    assert cdp.wiped == expected["wiped"]
    assert len(cdp.extensions) == expected["extensions"]
    # Per cycle: exactly tokens_per_cycle creations, and each full cycle lasts cycle_days.
    starts = [0, *cdp.wiped]
    for start, end in itertools.pairwise(starts):
        assert len([day for day in cdp.created if start <= day < end]) == 3
        assert end - start == policy.cycle_days
    if reading == "oldest_evicted":
        assert list(cdp.expiry) == [f"token-{len(cdp.created)}"]  # rotated-out tokens were deleted


def test_five_tokens_per_cycle_on_cs():
    # 90-day slots, 5 per cycle: tokens on days 0, 90, ..., 360; wipes every 450 days.
    simulation = simulate(custom_policy(90, 30, 5), "CS")
    assert simulation.lockout_days == []
    assert simulation.cdp.created == [0, 90, 180, 270, 360, 450, 540, 630, 720, 810, 900, 990, 1080]
    assert simulation.cdp.wiped == [450, 900]
    assert simulation.cdp.most_in_a_cycle == 5


def test_a_second_run_the_same_day_does_nothing():
    simulation = Simulation(EXTENDED, "PROD")
    simulation.day(0)
    before = simulation.store.read()
    simulation.run(START + RUN_AT + 3600)
    assert simulation.actions[0] is A.NONE
    assert simulation.cdp.created == [0]
    assert simulation.store.read() == replace(before, last_action="none")


# -- crashes -----------------------------------------------------------------------------------


def test_crash_after_create_recovers_the_next_day_within_the_limit():
    # Seed reading: the create on day 360 killed token 1 and its reply was lost. The stored token
    # is dead until the next run (the only lockout), which creates token 3 from the budget.
    simulation = Simulation(EXTENDED, "PROD")
    for day in range(YEARS_3):
        simulation.day(day, crash="after_create" if day == 360 else None)
        if day == 360:
            stored = simulation.store.read()
            assert stored.token == "token-1" and stored.tokens_created_in_cycle == 2
            assert not simulation.stored_token_valid()
    assert simulation.lockout_days == [361]
    assert simulation.actions[361] is A.RECOVER
    # Token 3 takes the last slot: the first cycle ends 360 days later, a year early.
    assert simulation.cdp.created == [0, 360, 361, 721, 1081]
    assert simulation.cdp.wiped == [721]


def test_crash_after_create_with_a_retry_or_the_other_reading_has_no_lockout():
    retried = Simulation(EXTENDED, "PROD")
    for day in range(400):
        retried.day(day, crash="after_create" if day == 360 else None, retry=True)
    assert retried.lockout_days == [] and retried.cdp.created == [0, 360, 360]

    # Earlier tokens stay valid: token 1 carries on, then is replaced from the budget.
    evicting = Simulation(EXTENDED, "PROD", reading="oldest_evicted")
    for day in range(400):
        evicting.day(day, crash="after_create" if day == 360 else None)
    assert evicting.lockout_days == [] and evicting.actions[361] is A.ROTATE


def test_two_lost_creates_keep_the_old_token_until_the_cycle_ends():
    # Oldest-evicted reading: both lost tokens spend the budget while token 1 stays valid.
    simulation = Simulation(EXTENDED, "PROD", reading="oldest_evicted")
    for day in range(YEARS_3):
        simulation.day(day, crash="after_create" if day in (360, 361) else None)
    assert simulation.lockout_days == []
    assert simulation.cdp.created == [0, 360, 361, 1080]
    assert simulation.cdp.wiped == [1080]
    assert simulation.cdp.most_in_a_cycle == 3


def test_crash_after_wipe_wipes_again_next_day():
    simulation = Simulation(ACCELERATED, "PROD")
    for day in range(400):
        simulation.day(day, crash="after_wipe" if day == 365 else None)
    assert simulation.lockout_days == [366]
    assert simulation.actions[366] is A.WIPE_AND_RESTART
    assert simulation.cdp.wiped == [365, 366]


def test_crash_before_create_spends_one_slot_only():
    simulation = Simulation(COMBINED, "UAT")
    for day in range(300):
        simulation.day(day, crash="before_create" if day == 90 else None)
    assert simulation.lockout_days == []
    assert simulation.cdp.created == [0, 91]
    assert simulation.store.read().slot == 2  # the reserved-but-never-created slot 1 was skipped


# -- CDP counting differently from the state ----------------------------------------------------


def test_refused_create_on_bootstrap_wipes_in_the_same_run():
    simulation = Simulation(EXTENDED, "PROD")
    simulation.cdp.created_since_wipe = 3  # someone spent the cycle by hand; nothing is stored
    simulation.cdp.now = START + RUN_AT
    decision, stored = run_rotation(EXTENDED, "PROD", simulation.store, simulation.cdp, simulation.cdp.now)
    assert simulation.cdp.refused == 1
    assert decision.action is A.WIPE_AND_RESTART and simulation.cdp.wiped == [0]
    assert simulation.cdp.valid(stored.token) and stored.tokens_created_in_cycle == 1


def test_adopted_token_on_a_spent_account_is_kept_until_the_cycle_ends():
    simulation = Simulation(ACCELERATED, "PROD")
    cdp = simulation.cdp
    cdp.expiry["hand-made"] = START + 100 * DAY
    cdp.created_since_wipe = 3
    simulation.store.write(TokenState.adopt("hand-made", START))
    simulation.expected_refusals = 1
    for day in range(YEARS_3):
        simulation.day(day)
    assert cdp.refused == 1  # the rotation due on day 90 learnt CDP's count, then waited
    assert simulation.actions[90] is A.NONE
    assert simulation.lockout_days == []
    assert cdp.created == [365, 455, 545, 730, 820, 910, 1095]
    assert cdp.wiped == [365, 730, 1095]


# -- extension that stops working --------------------------------------------------------------


def test_extension_that_stops_working_rotates_early_then_raises_before_the_token_lapses():
    simulation = Simulation(EXTENDED, "PROD", extend_mode="once")
    with pytest.raises(RotationQuotaError, match="extending it no longer prolongs it") as raised:
        for day in range(YEARS_3):
            simulation.day(day)
    day = simulation.cdp.day()
    # Tokens are replaced the day after their second (ineffective) extension.
    assert simulation.cdp.created == [0, 303, 606]
    assert day == 909 and simulation.stored_token_valid()  # raised with the token still alive
    assert "days left" in str(raised.value)


# -- property tests ------------------------------------------------------------------------------


@st.composite
def any_policy(draw):
    environment = draw(st.sampled_from(sorted(TOKEN_LIMITS)))
    if draw(st.booleans()):
        return draw(st.sampled_from(sorted(BUILT_IN_POLICIES.values(), key=str))), environment
    slots = draw(st.integers(1, TOKEN_LIMITS[environment]))
    rotate = tuple(draw(st.lists(st.integers(1, 400), min_size=slots, max_size=slots)))
    return RotationPolicy("drawn", rotate, draw(st.integers(1, 179))), environment


@st.composite
def skipped_days(draw, longest_gap: int) -> set[int]:
    """Days without a run: gaps of at most ``longest_gap`` consecutive days, each after at
    least one run; day 0 always runs."""
    if longest_gap < 1:
        return set()
    gaps = draw(st.lists(st.tuples(st.integers(1, 90), st.integers(1, longest_gap)), max_size=80))
    skipped: set[int] = set()
    day = 0
    for runs, gap in gaps:
        day += runs
        skipped.update(range(day, day + gap))
        day += gap
    return skipped


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_missed_runs_never_lock_out(data):
    """Skipping the daily run on up to ``extend_when_days_left - 1`` consecutive days is safe.

    After every run the token has more than ``extend_when_days_left`` days left (it is new,
    just extended, or outside the window), so it outlives any gap of that many days minus one.
    """
    policy, environment = data.draw(any_policy())
    skipped = data.draw(skipped_days(policy.extend_when_days_left - 1))
    simulation = Simulation(
        policy,
        environment,
        reading=data.draw(st.sampled_from(["newest_only", "oldest_evicted"])),
        extend_mode=data.draw(st.sampled_from(["reset", "add"])),
    )
    for day in range(YEARS_3):
        simulation.day(day, run=day not in skipped)
    assert simulation.lockout_days == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_crashes_never_exceed_the_limit_and_always_converge(data):
    """Runs that die at any point never push CDP past its limit, and the next run that
    completes stores a valid token: tokens only lapse between a crash and the next run."""
    policy, environment = data.draw(any_policy())
    retry = data.draw(st.booleans())
    reading = data.draw(st.sampled_from(["newest_only", "oldest_evicted"]))
    simulation = Simulation(policy, environment, reading=reading)
    points = st.sampled_from(["before_create", "after_create", "after_wipe"])
    simulation.cdp.crash_plan = data.draw(st.sets(st.tuples(points, st.integers(1, 12)), max_size=12))
    for day in range(YEARS_3):
        simulation.day(day, retry=retry)
    simulation.cdp.crash_plan = set()  # one run that completes, after whatever came before
    simulation.day(YEARS_3)
    assert simulation.stored_token_valid()
