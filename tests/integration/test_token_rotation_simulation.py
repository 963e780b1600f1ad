"""Three simulated years of the daily token rotation against the emulator, over real HTTP.

Each simulated day advances the emulator's clock by one day and calls the rotation operator's
:meth:`~AcquiaCdpRotateTokenOperator.rotate` (what ``execute`` does, at the emulator's time) with
one operator, hence one hook and one HTTP session, and an in-memory token store. Airflow's task
machinery is bypassed to keep a day to a couple of requests.

Checked every day: the stored token is valid when the day starts (so pipelines were never
locked out), and CDP never counted more creations in a cycle than the environment allows (and
never refused one). Checked over the three years: tokens are created and wiped on exactly the
days the seed's scenarios imply, which ``tests/unit/test_token_rotation.py`` derives with a pure
simulation. Then crashes after each step of a rotation, and the run that follows them.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timezone

import pytest
import requests

from airflow_provider_monetate.acquia_cdp import TOKEN_LIMITS
from airflow_provider_monetate.acquia_cdp.tokens import BUILT_IN_POLICIES, custom_policy
from airflow_provider_monetate.acquia_cdp.tokens._hook_api import HookTokenApi
from airflow_provider_monetate.acquia_cdp.tokens._policy import DAY
from airflow_provider_monetate.operators.acquia_cdp_tokens import AcquiaCdpRotateTokenOperator
from airflow_provider_monetate.testing import InMemoryTokenStore
from airflow_provider_monetate.testing.connections import cdp_connection, to_json
from tests.support.token_cdp import SCHEDULES

pytestmark = pytest.mark.integration

START = datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp()
RUN_AT = 2 * 3600  # the daily run starts at 02:00 UTC
YEARS_3 = 1096

# The seed's scenarios, day by day (derived in tests/unit/test_token_rotation.py).
EXPECTED = {
    "extended": dict(created=[0, 360, 720, 1080], wiped=[1080], extensions=6),
    "accelerated": dict(
        created=[0, 90, 180, 365, 455, 545, 730, 820, 910, 1095], wiped=[365, 730, 1095], extensions=3
    ),
    "combined": dict(created=[0, 90, 270, 540, 630, 810, 1080], wiped=[540, 1080], extensions=4),
}


def test_expected_days_match_the_pure_simulation():
    assert EXPECTED == SCHEDULES


class Simulation:
    """One CDP integration user in the emulator, one rotation operator and its store, day by day.

    :param emulator: the ``emulator`` fixture.
    :param monkeypatch: to define the connection.
    :param policy: a policy name or dict, as the DAG param would give it.
    :param environment: ``CS``, ``UAT`` or ``PROD``.
    :param invalidation: the emulator's reading of what a create does to older tokens.
    :param store: the token store (default: a new in-memory one).
    """

    def __init__(self, emulator, monkeypatch, policy, environment: str, invalidation: str,
                 store: InMemoryTokenStore | None = None) -> None:
        self.emulator = emulator
        emulator.configure(invalidation=invalidation)
        self.login, password = emulator.create_cdp_user(environment)
        conn = cdp_connection(emulator.url, self.login, password, emulator.cdp_tenant_id, environment)
        monkeypatch.setenv("AIRFLOW_CONN_CDP_SIMULATION", to_json(conn))
        self.store = store or InMemoryTokenStore()
        self.operator = AcquiaCdpRotateTokenOperator(
            task_id="rotate_token", policy=policy, acquia_cdp_conn_id="cdp_simulation", token_store=self.store
        )
        self.limit = TOKEN_LIMITS[environment]
        self.created: list[int] = []
        self.wiped: list[int] = []
        self.actions: dict[int, str] = {}
        emulator.clock.set(START + RUN_AT)
        self.stats = self.user_stats()

    @staticmethod
    def day_of(epoch: float) -> int:
        return int((epoch - START) // DAY)

    @property
    def day(self) -> int:
        return self.day_of(self.emulator.clock.now())

    def user_stats(self) -> dict:
        return self.emulator.cdp_stats()["users"][self.login]

    def run(self) -> None:
        """One run of the rotation, at the emulator's time; CDP's count is checked after it."""
        summary = self.operator.rotate(self.emulator.clock.now())
        before, self.stats = self.stats, self.user_stats()
        self.actions[self.day] = summary["action"]
        self.created += [self.day] * (self.stats["created_total"] - before["created_total"])
        self.wiped += [self.day] * (self.stats["cycle"] - before["cycle"])
        assert self.stats["created_in_cycle"] <= self.limit, f"day {self.day}: {self.stats}"

    def verify_stored_token(self) -> bool:
        """Verify the stored token over HTTP, independently of the hook."""
        state = self.store.read()
        response = requests.get(
            f"{self.emulator.url}/token", params={"scheme": "a1user"},
            headers={"Authorization": f"Bearer {state.token if state else ''}"}, timeout=10,
        )
        return response.status_code == 200

    def verifies(self) -> list[tuple[int, int]]:
        """``(day, status)`` of every verify (GET /token) the emulator answered, oldest first."""
        return [
            (self.day_of(entry["clock"]), entry["status"])
            for entry in self.emulator.requests()
            if entry["route"] == "cdp.token" and entry["method"] == "GET"
        ]

    def refused_creates(self) -> int:
        return self.emulator.counters().get("cdp.token", {}).get("statuses", {}).get(400, 0)


def simulate_three_years(simulation: Simulation) -> None:
    """Run daily for 1096 days, then check that every day's run found the stored token valid.

    Each run starts by verifying the stored token with the emulator (GET /token), so a 200 on
    every verify, on every day, means the pipelines were never locked out.
    """
    for day in range(YEARS_3):
        if day:
            simulation.emulator.clock.advance(DAY)
        simulation.run()
    verifies = simulation.verifies()
    assert [(day, status) for day, status in verifies if status != 200] == []
    assert {day for day, _ in verifies} == set(range(YEARS_3))
    assert simulation.verify_stored_token()
    assert simulation.refused_creates() == 0
    assert simulation.user_stats()["active_tokens"] == 1  # rotated-out tokens were deleted or invalidated


@pytest.mark.parametrize("invalidation", ["all_previous", "evict_oldest"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_three_years_in_prod(emulator, monkeypatch, name, invalidation):
    simulation = Simulation(emulator, monkeypatch, name, "PROD", invalidation)
    simulate_three_years(simulation)

    expected = EXPECTED[name]
    assert simulation.created == expected["created"]
    assert simulation.wiped == expected["wiped"]
    assert list(simulation.actions.values()).count("extend") == expected["extensions"]
    assert [day for day, action in simulation.actions.items() if action == "recover"] == [0]  # bootstrap only
    # Three tokens per cycle, and each cycle lasts the scenario's period.
    policy = BUILT_IN_POLICIES[name]
    for start, end in itertools.pairwise([0, *simulation.wiped]):
        assert len([day for day in simulation.created if start <= day < end]) == 3
        assert end - start == policy.cycle_days


def test_three_years_in_cs_with_five_tokens_per_cycle(emulator, monkeypatch):
    policy = custom_policy(rotate_after_days=90, extend_when_days_left=30, tokens_per_cycle=5).to_dict()
    simulation = Simulation(emulator, monkeypatch, policy, "CS", "evict_oldest")
    simulate_three_years(simulation)
    assert simulation.created == list(range(0, 1081, 90))
    assert simulation.wiped == [450, 900]


# -- crashes -----------------------------------------------------------------------------------------


class Crash(BaseException):
    """The worker died mid-run: not an ``Exception``, so nothing in the run handles it."""


class CrashingStore(InMemoryTokenStore):
    """Dies right after storing a newly created token, once, when armed."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False

    def write(self, state) -> None:
        previous = self.read()
        super().write(state)
        if self.armed and state.token is not None and (previous is None or previous.token != state.token):
            self.armed = False
            raise Crash("after_store_write")


@pytest.fixture
def crash_point(monkeypatch):
    """``crash_point["at"] = "after_create" | "after_verify" | "after_delete"``: the next call of
    that step (the verify of the new token) finishes at CDP, then the run dies."""
    point = {"at": None}
    created: list[str] = []
    create, verify, delete = HookTokenApi.create, HookTokenApi.verify, HookTokenApi.delete

    def fire(step: str) -> None:
        if point["at"] == step:
            point["at"] = None
            raise Crash(step)

    def crashing_create(self):
        created.append(create(self))
        fire("after_create")
        return created[-1]

    def crashing_verify(self, token):
        result = verify(self, token)
        if created and token == created[-1]:
            fire("after_verify")
        return result

    def crashing_delete(self, token):
        delete(self, token)
        fire("after_delete")

    monkeypatch.setattr(HookTokenApi, "create", crashing_create)
    monkeypatch.setattr(HookTokenApi, "verify", crashing_verify)
    monkeypatch.setattr(HookTokenApi, "delete", crashing_delete)
    return point


@pytest.mark.parametrize("next_run", ["retry", "next_day"])
@pytest.mark.parametrize("invalidation", ["all_previous", "evict_oldest"])
@pytest.mark.parametrize("step", ["after_create", "after_store_write", "after_verify", "after_delete"])
def test_a_crash_after_any_step_is_put_right_by_the_next_run(emulator, monkeypatch, crash_point, step,
                                                             invalidation, next_run):
    # Accelerated: the first rotation is on day 90.
    store = CrashingStore()
    simulation = Simulation(emulator, monkeypatch, "accelerated", "PROD", invalidation, store)
    for day in range(90):
        if day:
            emulator.clock.advance(DAY)
        simulation.run()
    emulator.clock.advance(DAY)
    if step == "after_store_write":
        store.armed = True
    else:
        crash_point["at"] = step
    with pytest.raises(Crash, match=step):
        simulation.run()

    # The stored token may be dead until the next run (a create invalidated it before it was
    # stored); that run, Airflow's retry or tomorrow's, stores a valid one.
    emulator.clock.advance(300 if next_run == "retry" else DAY)
    simulation.run()
    assert simulation.verify_stored_token()
    emulator.clock.advance(DAY)
    simulation.run()
    assert simulation.verify_stored_token()
    assert simulation.refused_creates() == 0


@pytest.mark.parametrize("valid", [True, False])
def test_first_run_adopts_a_valid_token_from_the_connection_instead_of_creating(emulator, monkeypatch, valid):
    login, password = emulator.create_cdp_user("PROD")
    token = emulator.issue_cdp_token(login)
    if not valid:
        emulator.clock.advance(200 * DAY)  # the hand-set token has expired
    conn = cdp_connection(emulator.url, login, password, emulator.cdp_tenant_id, "PROD", token)
    monkeypatch.setenv("AIRFLOW_CONN_CDP_ADOPT", to_json(conn))
    store = InMemoryTokenStore()
    operator = AcquiaCdpRotateTokenOperator(task_id="rotate", acquia_cdp_conn_id="cdp_adopt", token_store=store)
    summary = operator.rotate(emulator.clock.now())
    created = emulator.cdp_stats()["users"][login]["created_total"]
    if valid:
        assert (summary["action"], store.read().token, created) == ("none", token, 1)
    else:
        assert summary["action"] == "recover" and store.read().token != token and created == 2
