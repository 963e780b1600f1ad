"""The daily rotation run: a day-by-day simulation of three years, crashes, and CDP counting differently.

The simulation drives :func:`run_rotation` against ``FakeCdp`` (tests/support/token_cdp.py) for
1096 days (3 years) and checks that a valid token is stored every day, that no cycle creates
more tokens than the environment allows, and that each built-in policy creates tokens on
exactly the days its scenario in the seed document implies, under every reading of the
documents: the full grid runs here, every day; tests/integration/test_token_rotation_simulation.py
runs it through the emulator."""

from __future__ import annotations

import itertools
import logging
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_monetate.acquia_cdp._environments import TOKEN_LIMITS
from airflow_provider_monetate.acquia_cdp.tokens import (
    ACCELERATED,
    BUILT_IN_POLICIES,
    COMBINED,
    EXTENDED,
    RotationAction,
    RotationPolicy,
    TokenState,
    custom_policy,
    run_rotation,
)
from airflow_provider_monetate.acquia_cdp.tokens._policy import DAY
from airflow_provider_monetate.exceptions import RotationQuotaError
from tests.support.token_cdp import (
    LIFETIME,
    RUN_AT,
    SCHEDULES,
    START,
    YEARS_3,
    Simulation,
    format_table,
    grid_row,
    simulate,
)

A = RotationAction

# The readings of the documents, as FakeCdp names them (the emulator's readings of the same names).
EXPIRES_IN = ("fixed", "countdown")
LIMITS = ("invalidate", "refuse")
INVALIDATIONS = ("all_previous", "evict_oldest")
EXTENDS = ("add", "reset")


@pytest.mark.parametrize(("expires_in", "limit"), list(itertools.product(EXPIRES_IN, LIMITS)))
def test_three_years_of_daily_runs_under_every_reading(expires_in, limit, capsys):
    rows, schedules = [], []
    for invalidation, extend, name, environment in itertools.product(
        INVALIDATIONS, EXTENDS, sorted(SCHEDULES), ["CS", "PROD"]
    ):
        reading = f"{expires_in}/{limit}/{invalidation}/{extend}"
        simulation = simulate(BUILT_IN_POLICIES[name], environment, strict=False, expires_in=expires_in,
                              limit=limit, invalidation=invalidation, extend=extend)
        rows.append(grid_row(simulation, reading))
        cdp = simulation.cdp
        schedules.append((reading, name, environment, cdp.created, cdp.wiped, len(cdp.extensions)))
    with capsys.disabled():
        print(f"\n{format_table(rows)}")
    assert [row for row in rows if (row.lockout_days, row.refused, row.over_limit) != (0, 0, 0)] == []
    # Every reading keeps the seed's schedules: tokens created and wiped on the same days.
    for reading, name, environment, created, wiped, extensions in schedules:
        expected = SCHEDULES[name]
        assert (created, wiped, extensions) == (expected["created"], expected["wiped"], expected["extensions"]), (
            reading, name, environment)


@pytest.mark.parametrize("invalidation", INVALIDATIONS)
@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_each_cycle_creates_its_tokens_and_lasts_its_days(name, invalidation):
    policy = BUILT_IN_POLICIES[name]
    simulation = simulate(policy, "PROD", invalidation=invalidation)
    cdp = simulation.cdp
    # Per cycle: exactly tokens_per_cycle creations, and each full cycle lasts cycle_days.
    starts = [0, *cdp.wiped]
    for start, end in itertools.pairwise(starts):
        assert len([day for day in cdp.created if start <= day < end]) == 3
        assert end - start == policy.cycle_days
    if invalidation == "evict_oldest":
        assert list(cdp.expiry) == [f"token-{len(cdp.created)}"]  # rotated-out tokens were deleted


@pytest.mark.parametrize("expires_in", EXPIRES_IN)
def test_the_fixed_lifetime_reading_is_logged_once_when_seen(expires_in, caplog):
    caplog.set_level(logging.INFO, logger="airflow_provider_monetate.acquia_cdp.tokens._rotation")
    simulation = simulate(EXTENDED, "PROD", days=400, expires_in=expires_in)
    said = [r.getMessage() for r in caplog.records if "fixed lifetime" in r.getMessage()]
    stored = simulation.store.read()
    if expires_in == "fixed":
        assert len(said) == 1 and f"({LIFETIME} s)" in said[0] and "2025-01-01 and 2025-01-02" in said[0]
        assert stored.fixed_lifetime_since == "2025-01-02"
    else:
        assert said == [] and stored.fixed_lifetime_since is None


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
    evicting = Simulation(EXTENDED, "PROD", invalidation="evict_oldest")
    for day in range(400):
        evicting.day(day, crash="after_create" if day == 360 else None)
    assert evicting.lockout_days == [] and evicting.actions[361] is A.ROTATE


def test_two_lost_creates_keep_the_old_token_until_the_cycle_ends():
    # Oldest-evicted reading: both lost tokens spend the budget while token 1 stays valid.
    simulation = Simulation(EXTENDED, "PROD", invalidation="evict_oldest")
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


@pytest.mark.parametrize("limit", LIMITS)
def test_a_spent_account_on_bootstrap_gets_a_token_in_the_same_run(limit):
    simulation = Simulation(EXTENDED, "PROD", limit=limit)
    simulation.cdp.created_since_wipe = 3  # someone spent the cycle by hand; nothing is stored
    simulation.cdp.now = START + RUN_AT
    decision, stored = run_rotation(EXTENDED, "PROD", simulation.store, simulation.cdp, simulation.cdp.now)
    assert simulation.cdp.valid(stored.token) and stored.tokens_created_in_cycle == 1
    if limit == "refuse":  # believe CDP's count: wipe, then create
        assert simulation.cdp.refused == 1
        assert decision.action is A.WIPE_AND_RESTART and simulation.cdp.wiped == [0]
    else:  # the seed: the create replaces the old tokens
        assert decision.action is A.RECOVER and simulation.cdp.wiped == []


def test_adopted_token_on_a_spent_account_is_kept_until_the_cycle_ends():
    simulation = Simulation(ACCELERATED, "PROD", limit="refuse")
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
    # Seen only when CDP counts down: a fixed expires_in cannot show that an extension did nothing.
    simulation = Simulation(EXTENDED, "PROD", expires_in="countdown", extend="once")
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
        expires_in=data.draw(st.sampled_from(EXPIRES_IN)),
        limit=data.draw(st.sampled_from(LIMITS)),
        invalidation=data.draw(st.sampled_from(INVALIDATIONS)),
        extend=data.draw(st.sampled_from(EXTENDS)),
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
    simulation = Simulation(
        policy,
        environment,
        expires_in=data.draw(st.sampled_from(EXPIRES_IN)),
        limit=data.draw(st.sampled_from(LIMITS)),
        invalidation=data.draw(st.sampled_from(INVALIDATIONS)),
    )
    points = st.sampled_from(["before_create", "after_create", "after_wipe"])
    simulation.cdp.crash_plan = data.draw(st.sets(st.tuples(points, st.integers(1, 12)), max_size=12))
    for day in range(YEARS_3):
        simulation.day(day, retry=retry)
    simulation.cdp.crash_plan = set()  # one run that completes, after whatever came before
    simulation.day(YEARS_3)
    assert simulation.stored_token_valid()
