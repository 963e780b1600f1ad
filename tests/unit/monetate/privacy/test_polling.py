"""One round of status calls: work shared out, answers kept, the first failure ends the round."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from airflow_provider_monetate.exceptions import ApiForbiddenError, ApiUnavailableError
from airflow_provider_monetate.monetate.privacy._polling import StatusRound, ask_statuses
from airflow_provider_monetate.monetate.privacy._status import DeletionStatus

LOG = logging.getLogger("test_polling")


def run(status_round: StatusRound, answer) -> None:
    """Workers as the sensor runs them: threads taking the next ID until there is none."""

    def work() -> None:
        while (customer_id := status_round.next_id()) is not None:
            try:
                status_round.record(customer_id, answer(customer_id))
            except Exception as error:
                status_round.fail(error)

    with ThreadPoolExecutor(max_workers=status_round.workers) as pool:
        for _ in range(status_round.workers):
            pool.submit(work)


def test_every_id_is_asked_once_by_at_most_max_concurrency_workers():
    asked, lock = [], threading.Lock()

    def answer(customer_id):
        with lock:
            asked.append(customer_id)
        return DeletionStatus.NOT_FOUND if int(customer_id[1:]) % 2 else DeletionStatus.PENDING

    status_round = StatusRound([f"C{i}" for i in range(50)], max_concurrency=8)
    run(status_round, answer)
    assert status_round.workers == 8 and sorted(asked) == sorted(f"C{i}" for i in range(50))
    statuses = status_round.finish(LOG)
    assert statuses["C1"] == "NOT_FOUND" and statuses["C2"] == "PENDING" and len(statuses) == 50


def test_fewer_ids_than_workers_start_fewer_workers():
    assert StatusRound(["C1", "C2"], max_concurrency=32).workers == 2


def test_monetate_unavailable_ends_the_round_early_and_keeps_the_answers(caplog):
    def answer(customer_id):
        if customer_id == "C3":
            raise ApiUnavailableError("Monetate", "GET", "/status", 503, attempts=6)
        return DeletionStatus.NOT_FOUND

    status_round = StatusRound([f"C{i}" for i in range(10)], max_concurrency=1)
    run(status_round, answer)
    caplog.set_level(logging.WARNING)
    statuses = status_round.finish(LOG)
    assert statuses == {"C0": "NOT_FOUND", "C1": "NOT_FOUND", "C2": "NOT_FOUND"}
    assert "3 of 10 IDs checked this round, the rest wait for the next" in caplog.text


def test_any_other_failure_is_raised():
    def answer(customer_id):
        raise ApiForbiddenError("Monetate", "GET", "/status", 403, hint="the key was deactivated")

    status_round = StatusRound(["C1", "C2"], max_concurrency=2)
    run(status_round, answer)
    assert status_round.next_id() is None
    with pytest.raises(ApiForbiddenError, match="deactivated"):
        status_round.finish(LOG)


def test_ask_statuses_runs_a_round_in_threads_and_says_when_a_code_is_unreadable(caplog):
    answers = {"C1": DeletionStatus.PENDING, "C2": DeletionStatus.UNKNOWN, "C3": DeletionStatus.NOT_FOUND}
    with caplog.at_level(logging.WARNING):
        statuses = ask_statuses(list(answers), answers.__getitem__, 2, LOG)
    assert statuses == {"C1": "PENDING", "C2": "UNKNOWN", "C3": "NOT_FOUND"}
    assert "1 of 3 ID(s) with an integer status code whose description does not say" in caplog.text
    assert "C2" not in caplog.text
    assert ask_statuses([], answers.__getitem__, 2, LOG) == {}
