"""Three simulated years of the daily token rotation against the emulator, over real HTTP, under
every reading of the documents.

Each simulated day advances the emulator's clock by one day and calls the rotation operator's
:meth:`~AcquiaCdpRotateTokenOperator.rotate` (what ``execute`` does, at the emulator's time) with
one operator, hence one hook and one HTTP session, and an in-memory token store. Airflow's task
machinery is bypassed to keep a day to a couple of requests.

Checked: the stored token is valid whenever a day starts (so pipelines were never locked out),
CDP never counted more creations in a cycle than the environment allows and never refused one,
and tokens are created and wiped on exactly the days the seed's scenarios imply (derived with
the in-memory simulation of tests/unit/acquia_cdp/tokens/test_rotation.py).

The grid ({fixed, countdown} ``expires_in`` x {invalidate, refuse with 400, 403, 409, 429} x
every built-in policy x {CS, PROD}: 60 combinations) runs every day in memory, in
test_rotation.py; here, to keep it to seconds, each combination runs on the days something can
happen (:meth:`Simulation.next_due_day`, never later than a daily run would act): skipping a day
on which a daily run does nothing changes nothing, and a token that lapsed between two runs is
seen by the next run's verify. The seed's readings also run every single day for every policy.
Then crashes after each step of a rotation, and the run that follows them.
"""

from __future__ import annotations

import itertools
import math
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
from airflow_provider_monetate.testing.readings import readings_of
from tests.support.token_cdp import SCHEDULES, GridRow, format_table

pytestmark = pytest.mark.integration

START = datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp()
RUN_AT = 2 * 3600  # the daily run starts at 02:00 UTC
YEARS_3 = 1096

# The seed's scenarios, day by day (derived in tests/unit/acquia_cdp/tokens/test_rotation.py).
EXPECTED = {
    "extended": dict(created=[0, 360, 720, 1080], wiped=[1080], extensions=6),
    "accelerated": dict(
        created=[0, 90, 180, 365, 455, 545, 730, 820, 910, 1095], wiped=[365, 730, 1095], extensions=3
    ),
    "combined": dict(created=[0, 90, 270, 540, 630, 810, 1080], wiped=[540, 1080], extensions=4),
}
# Over HTTP: both expiry readings x invalidating, and refusing with a body (400) and without one
# (429, which the retry policy tries again first). Every refusal status is recognised in
# tests/unit/acquia_cdp/tokens/test_hook_api.py, and the in-memory grid (test_rotation.py) runs
# every policy under the other token readings: a pair costs about 12 s here, so the emulator
# grid keeps the pairs that take different paths through the provider.
REFUSALS_OVER_HTTP = ("invalidate", "refuse_400", "refuse_429")
READINGS = list(itertools.product(readings_of("cdp.expires_in"), REFUSALS_OVER_HTTP))


def test_expected_days_match_the_pure_simulation():
    assert EXPECTED == SCHEDULES


class Simulation:
    """One CDP integration user in the emulator, one rotation operator and its store, day by day.

    :param emulator: the ``emulator`` fixture.
    :param monkeypatch: to define the connection.
    :param policy: a policy name or dict, as the DAG param would give it.
    :param environment: ``CS``, ``UAT`` or ``PROD``.
    :param readings: the emulator's readings of the documents (default: the seed's).
    :param store: the token store (default: a new in-memory one).
    """

    def __init__(self, emulator, monkeypatch, policy, environment: str, readings: dict[str, str] | None = None,
                 store: InMemoryTokenStore | None = None) -> None:
        self.emulator = emulator
        emulator.set_readings(readings or {})
        self.login, password = emulator.create_cdp_user(environment)
        conn = cdp_connection(emulator.url, self.login, password, emulator.cdp_tenant_id, environment)
        monkeypatch.setenv("AIRFLOW_CONN_CDP_SIMULATION", to_json(conn))
        self.store = store or InMemoryTokenStore()
        self.operator = AcquiaCdpRotateTokenOperator(
            task_id="rotate_token", policy=policy, acquia_cdp_conn_id="cdp_simulation", token_store=self.store
        )
        self.policy = self.operator.resolved_policy()
        self.environment = environment
        self.limit = TOKEN_LIMITS[environment]
        self.created: list[int] = []
        self.wiped: list[int] = []
        self.actions: dict[int, str] = {}
        self.most_in_a_cycle = 0
        self.lockout_days = 0
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
        """One run of the rotation, at the emulator's time; CDP's count is recorded after it."""
        summary = self.operator.rotate(self.emulator.clock.now())
        before, self.stats = self.stats, self.user_stats()
        self.actions[self.day] = summary["action"]
        self.created += [self.day] * (self.stats["created_total"] - before["created_total"])
        self.wiped += [self.day] * (self.stats["cycle"] - before["cycle"])
        self.most_in_a_cycle = max(self.most_in_a_cycle, self.stats["created_in_cycle"])

    def go_to(self, day: int, check: bool = True) -> None:
        """Move the emulator's clock to 02:00 on ``day``; with ``check``, count the days the stored
        token was dead (a daily run's own verify shows it without that extra call)."""
        self.emulator.clock.set(START + day * DAY + RUN_AT)
        if check and day and not self.verify_stored_token():
            self.lockout_days += day - self.lapsed_on(day)

    def lapsed_on(self, day: int) -> int:
        """The first day the stored token was dead at 02:00 (its expiry, or the day after the last run)."""
        state = self.store.read()
        token = self.emulator.cdp.tokens.tokens.get(state.token if state else "")
        last_run = max(self.actions, default=0)
        if token is None or not token.valid:
            return last_run + 1
        return max(last_run + 1, math.ceil((token.expires_at - START - RUN_AT) / DAY))

    def next_due_day(self) -> int:
        """The first day after today on which the rotation may act, by the stored state: the slot's
        or the cycle's end, or the extension window. Errs early (an extra run does nothing)."""
        state, policy, today = self.store.read(), self.policy, self.day
        if state is None or state.token is None or state.expires_at is None:
            return today + 1
        slot = min(state.slot, policy.tokens_per_cycle - 1)
        due = [
            self.day_of(state.created_at) + policy.rotate_after_days[slot],
            self.day_of(state.cycle_started_at) + policy.cycle_days,
            self.day_of(state.expires_at - policy.extend_when_days_left * DAY) - 1,
        ]
        return max(today + 1, min(due))

    def verify_stored_token(self) -> bool:
        """Verify the stored token over HTTP, independently of the hook."""
        state = self.store.read()
        response = requests.get(
            f"{self.emulator.url}/token", params={"scheme": "a1user"},
            headers={"Authorization": f"Bearer {state.token if state else ''}"}, timeout=10,
        )
        return response.status_code == 200

    def refused_creates(self) -> int:
        """Creates CDP answered with an error."""
        return sum(1 for entry in self.emulator.requests()
                   if entry["route"] == "cdp.token" and entry["method"] == "POST" and "action=create" in entry["path"]
                   and entry["status"] >= 400)

    def row(self, reading: str) -> GridRow:
        return GridRow(reading, self.policy.name, self.environment, len(self.created), len(self.wiped),
                       list(self.actions.values()).count("extend"), self.lockout_days, self.refused_creates(),
                       max(0, self.most_in_a_cycle - self.limit))


def simulate_three_years(simulation: Simulation, daily: bool = True) -> None:
    """Run for 1096 days: every day, or on the days something can happen (always on the last one)."""
    day = 0
    while True:
        simulation.go_to(day, check=not daily)
        simulation.run()
        if day == YEARS_3 - 1:
            return
        day = day + 1 if daily else min(simulation.next_due_day(), YEARS_3 - 1)


def check_schedule(simulation: Simulation, name: str) -> None:
    """Tokens created and wiped on the seed's days; three per cycle; each cycle as long as the policy says."""
    expected = EXPECTED[name]
    assert simulation.created == expected["created"]
    assert simulation.wiped == expected["wiped"]
    assert list(simulation.actions.values()).count("extend") == expected["extensions"]
    assert [day for day, action in simulation.actions.items() if action == "recover"] == [0]  # bootstrap only
    for start, end in itertools.pairwise([0, *simulation.wiped]):
        assert len([day for day in simulation.created if start <= day < end]) == 3
        assert end - start == BUILT_IN_POLICIES[name].cycle_days


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_three_years_every_day_under_the_seeds_readings(emulator, monkeypatch, name):
    simulation = Simulation(emulator, monkeypatch, name, "PROD")
    simulate_three_years(simulation)
    # Each run starts by verifying the stored token: a 200 on every day means no lockout.
    verifies = [(simulation.day_of(entry["clock"]), entry["status"]) for entry in emulator.requests()
                if entry["route"] == "cdp.token" and entry["method"] == "GET"]
    assert [(day, status) for day, status in verifies if status != 200] == []
    assert {day for day, _ in verifies} == set(range(YEARS_3))
    assert simulation.verify_stored_token() and simulation.refused_creates() == 0
    assert simulation.user_stats()["active_tokens"] == 1  # rotated-out tokens were deleted or invalidated
    check_schedule(simulation, name)


@pytest.mark.parametrize(("expires_in", "token_limit"), READINGS)
def test_three_years_under_every_reading(emulator, monkeypatch, expires_in, token_limit, capsys):
    rows, simulations = [], []
    for name, environment in itertools.product(sorted(EXPECTED), ["CS", "PROD"]):
        emulator.reset()
        simulation = Simulation(emulator, monkeypatch, name, environment,
                                {"cdp.expires_in": expires_in, "cdp.token_limit": token_limit})
        simulate_three_years(simulation, daily=False)
        rows.append(simulation.row(f"{expires_in}/{token_limit}"))
        simulations.append((name, simulation, simulation.verify_stored_token()))
    with capsys.disabled():
        print(f"\n{format_table(rows)}")
    assert [row for row in rows if (row.lockout_days, row.refused, row.over_limit) != (0, 0, 0)] == []
    for name, simulation, valid_at_the_end in simulations:
        assert valid_at_the_end, (name, simulation.environment)
        check_schedule(simulation, name)


def test_three_years_in_cs_with_five_tokens_per_cycle(emulator, monkeypatch):
    policy = custom_policy(rotate_after_days=90, extend_when_days_left=30, tokens_per_cycle=5).to_dict()
    simulation = Simulation(emulator, monkeypatch, policy, "CS", {
        "cdp.token_invalidation": "evict_oldest", "cdp.token_limit": "refuse_409", "cdp.token_extend": "reset",
        "cdp.invalid_token_status": "403",
    })
    simulate_three_years(simulation)
    assert simulation.created == list(range(0, 1081, 90))
    assert simulation.wiped == [450, 900]
    assert (simulation.lockout_days, simulation.refused_creates()) == (0, 0)


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
        issued = create(self)
        created.append(issued.token)
        fire("after_create")
        return issued

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


CRASH_READINGS = {
    "seed": {},  # fixed expires_in, a create invalidates every older token and is never refused
    "evict": {"cdp.expires_in": "countdown", "cdp.token_invalidation": "evict_oldest", "cdp.token_extend": "reset"},
    "refuse": {"cdp.token_limit": "refuse_400", "cdp.invalid_token_status": "403"},
}


@pytest.mark.parametrize("next_run", ["retry", "next_day"])
@pytest.mark.parametrize("readings", sorted(CRASH_READINGS))
@pytest.mark.parametrize("step", ["after_create", "after_store_write", "after_verify", "after_delete"])
def test_a_crash_after_any_step_is_put_right_by_the_next_run(emulator, monkeypatch, crash_point, step,
                                                             readings, next_run):
    # Accelerated: the first rotation is on day 90.
    store = CrashingStore()
    simulation = Simulation(emulator, monkeypatch, "accelerated", "PROD", CRASH_READINGS[readings], store)
    day = 0
    while day < 90:
        simulation.go_to(day)
        simulation.run()
        day = min(simulation.next_due_day(), 90)
    simulation.go_to(90)
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


@pytest.mark.parametrize("expires_in", readings_of("cdp.expires_in"))
@pytest.mark.parametrize("valid", [True, False])
def test_first_run_adopts_a_valid_token_from_the_connection_instead_of_creating(emulator, monkeypatch, valid,
                                                                                 expires_in):
    emulator.set_reading("cdp.expires_in", expires_in)
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
    if valid:  # its expiry is unknown, so it is extended at once: then tracked, whatever a verify reports
        assert (summary["action"], store.read().token, created) == ("extend", token, 1)
        assert store.read().expires_at == pytest.approx(emulator.clock.now() + 15_599_999, abs=60)
    else:
        assert summary["action"] == "recover" and store.read().token != token and created == 2
