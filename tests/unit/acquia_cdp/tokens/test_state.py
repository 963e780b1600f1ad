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
from airflow_provider_monetate.acquia_cdp.tokens._state import earliest_expiry
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
    first = fresh.after_create("t1", NOW, "extended", LIFETIME)
    assert (first.token, first.slot, first.created_at, first.cycle_started_at) == ("t1", 0, NOW, NOW)
    assert first.local_expires_at == first.expires_at == NOW + LIFETIME
    extended = first.after_extend(NOW + DAY)
    assert (extended.expires_at, extended.extended_at) == (NOW + DAY + LIFETIME, NOW + DAY)
    second = extended.before_create().after_create("t2", NOW + 5 * DAY, "extended")
    assert (second.slot, second.extended_at, second.cycle_started_at) == (1, None, NOW)
    wiped = second.after_wipe(NOW + 7 * DAY)
    assert wiped == TokenState(cycle_started_at=NOW + 7 * DAY, policy="extended")
    deleted = second.after_delete()
    assert (deleted.token, deleted.expires_at, deleted.local_expires_at) == (None, None, None)
    assert deleted.tokens_created_in_cycle == 2
    assert second.after_create_refused(3).tokens_created_in_cycle == 3
    ran = second.mark_run(TODAY, A.ROTATE)
    assert (ran.last_run_day, ran.last_action) == ("2025-06-01", "rotate")


def test_adopt_starts_a_schedule_for_a_bare_token():
    adopted = TokenState.adopt("bare", NOW)
    assert adopted == TokenState(token="bare", created_at=NOW, cycle_started_at=NOW, tokens_created_in_cycle=1)


# -- the expiry in use, whichever way CDP reports expires_in -------------------------------------


def test_the_expiry_in_use_is_the_earlier_of_the_tracked_and_the_reported_one():
    created = TokenState().before_create().after_create("t1", NOW, "extended", LIFETIME)
    later = NOW + 100 * DAY
    fixed = created.after_verify(LIFETIME, later)  # a fixed expires_in would say 180 days from now
    assert fixed.expires_at == NOW + LIFETIME and fixed.expires_in_at(later) == pytest.approx(LIFETIME - 100 * DAY)
    short = created.after_verify(10 * DAY, later)  # CDP knows better: it counts down to less
    assert short.expires_at == later + 10 * DAY
    assert created.after_verify(None, later).expires_at == NOW + LIFETIME  # CDP said nothing


def test_the_create_answer_sets_the_lifetime_and_an_extension_restarts_it():
    created = TokenState().after_create("t1", NOW, "extended", 90 * DAY)
    assert created.expires_at == NOW + 90 * DAY
    assert created.after_extend(NOW + 80 * DAY).expires_at == NOW + 170 * DAY
    assert TokenState().after_create("t1", NOW, "extended").expires_at == NOW + LIFETIME  # the seed's figure


def test_an_untracked_token_has_no_expiry_in_use_until_extended():
    adopted = TokenState.adopt("bare", NOW).after_verify(LIFETIME, NOW)
    assert adopted.expires_at is None and adopted.expires_in_at(NOW) is None
    older = TokenState(token="t", expires_at=NOW + 5 * DAY)  # written by a version that did not track
    assert older.after_verify(LIFETIME, NOW).expires_at is None
    assert adopted.after_extend(NOW).after_verify(LIFETIME, NOW).expires_at == NOW + LIFETIME


@pytest.mark.parametrize(("second", "detected"), [(LIFETIME, "2025-06-02"), (LIFETIME - DAY, None)])
def test_the_same_expires_in_on_two_days_records_the_fixed_lifetime(second, detected):
    seen = TokenState().after_create("t1", NOW, "extended", LIFETIME).after_verify(LIFETIME, NOW)
    assert seen.after_verify(LIFETIME, NOW + 3600).fixed_lifetime_since is None  # the same day proves nothing
    next_day = seen.after_verify(second, NOW + DAY)
    assert next_day.fixed_lifetime_since == detected
    # A create or an extension in between starts over: a fresh figure equals the lifetime either way.
    assert seen.after_extend(NOW + DAY).after_verify(LIFETIME, NOW + DAY).fixed_lifetime_since is None


def test_earliest_expiry_takes_what_is_known():
    assert earliest_expiry(None, None, NOW) is None
    assert earliest_expiry(NOW + 5, None, NOW) == NOW + 5
    assert earliest_expiry(None, 7, NOW) == NOW + 7
    assert earliest_expiry(NOW + 9, 7, NOW) == NOW + 7
