"""The token state: JSON round trip, masking, and each step of a cycle."""

from __future__ import annotations

import json

import pytest

from airflow_provider_monetate.acquia_cdp.tokens import (
    Decision,
    RotationAction,
    TokenState,
)
from airflow_provider_monetate.acquia_cdp.tokens._policy import DAY
from tests.support.token_cdp import LIFETIME, NOW, TODAY, days_ago, state

A = RotationAction


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
