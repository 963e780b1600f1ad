"""decide(): one rule per test."""

from __future__ import annotations

from dataclasses import replace

import pytest

from airflow_provider_monetate.acquia_cdp.tokens import (
    ACCELERATED,
    EXTENDED,
    Decision,
    RotationAction,
    TokenState,
    VerifyResult,
    custom_policy,
    decide,
)
from airflow_provider_monetate.acquia_cdp.tokens._policy import DAY
from airflow_provider_monetate.exceptions import RotationQuotaError
from tests.support.token_cdp import LIFETIME, NOW, TODAY, days_ago, state, valid

A = RotationAction


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
    assert decision.action is A.EXTEND and "its expiry is not tracked yet" in decision.reason


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
