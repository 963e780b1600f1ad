"""How deletions are posted: the body shape Monetate takes (found, kept), the pre-check, IDs as text (pure)."""

from __future__ import annotations

import decimal
import json
import logging
import threading

import pytest

from airflow_provider_monetate.exceptions import (
    ApiForbiddenError,
    ApiValidationError,
    ConfigurationError,
    StateFileError,
)
from airflow_provider_monetate.monetate.privacy._status import DeletionStatus
from airflow_provider_monetate.monetate.privacy._submission import (
    BodyShape,
    BodyShapeChooser,
    Precheck,
    customer_id_text,
    shapes_to_try,
)

ASKED = "2024-05-01T09:30:00.000000Z"
ROWS = [{"customer_id": f"C{i}", "delete_request_time": ASKED} for i in range(3)]
LOG = logging.getLogger("test_submission")


def refusal(status=400):
    return ApiValidationError("Monetate", "POST", "/data/gdpr/", status, ["field=customer_id, message=required"])


class FakeServer:
    """Takes only ``takes`` (a body shape and a time format) and answers 400 to anything else."""

    def __init__(self, body="flat", time_format="datetime"):
        self.body, self.time_format = body, time_format
        self.accepted: list[dict] = []
        self.requests = 0
        self.lock = threading.Lock()

    def send(self, raw: bytes) -> None:
        with self.lock:
            self.requests += 1
        body = json.loads(raw)
        rows = body.get("schema_rows") if self.body == "schema_rows" else ([body] if "customer_id" in body else None)
        if rows is None:
            raise refusal()
        times = {len(row["delete_request_time"]) for row in rows}
        if times != {10 if self.time_format == "date" else len(ASKED)}:
            raise refusal()
        with self.lock:
            self.accepted.extend(rows)


def test_shapes_to_try_in_order_and_choices_checked():
    assert shapes_to_try("auto", "auto") == (
        BodyShape("schema_rows", "datetime"), BodyShape("flat", "datetime"),
        BodyShape("schema_rows", "date"), BodyShape("flat", "date"))
    assert shapes_to_try("flat", "date") == (BodyShape("flat", "date"),)
    with pytest.raises(ConfigurationError, match="body must be one of auto, schema_rows, flat, got 'list'"):
        shapes_to_try("list", "auto")
    with pytest.raises(ConfigurationError, match="delete_request_time_format must be one of auto, datetime, date"):
        shapes_to_try("auto", "epoch")


def test_the_bodies_of_each_shape():
    (carried, body), = BodyShape("schema_rows", "date").requests(ROWS[:2])
    assert json.loads(body) == {"schema_rows": [{"customer_id": "C0", "delete_request_time": "2024-05-01"},
                                                {"customer_id": "C1", "delete_request_time": "2024-05-01"}]}
    assert carried == ROWS[:2]  # the ledger keeps the full time
    flat = BodyShape("flat", "datetime").requests(ROWS)
    assert [json.loads(body) for _, body in flat] == ROWS and [rows for rows, _ in flat] == [[r] for r in ROWS]


@pytest.mark.parametrize("body", ["schema_rows", "flat"])
@pytest.mark.parametrize("time_format", ["datetime", "date"])
def test_auto_finds_what_the_server_takes_then_keeps_it(body, time_format, caplog):
    server = FakeServer(body, time_format)
    chooser = BodyShapeChooser(shapes_to_try("auto", "auto"))
    acknowledged: list[dict] = []
    with caplog.at_level(logging.WARNING):
        chooser.post(ROWS, server.send, acknowledged)
    assert chooser.settled == BodyShape(body, time_format)
    assert acknowledged == ROWS and [r["customer_id"] for r in server.accepted] == ["C0", "C1", "C2"]
    refused = len(chooser.refused)
    assert refused == shapes_to_try("auto", "auto").index(BodyShape(body, time_format))
    assert ("Monetate refused deletions as" in caplog.text) == (refused > 0)
    before = server.requests
    chooser.post(ROWS, server.send, acknowledged)  # the next batch: no more trying
    assert server.requests - before == (3 if body == "flat" else 1)


def test_a_pinned_shape_is_never_switched():
    server = FakeServer("flat")
    chooser = BodyShapeChooser(shapes_to_try("schema_rows", "datetime"))
    with pytest.raises(ApiValidationError, match="customer_id"):
        chooser.post(ROWS, server.send, [])
    assert server.requests == 1 and server.accepted == []


def test_every_shape_refused_names_each_refusal_and_the_fix():
    chooser = BodyShapeChooser(shapes_to_try("auto", "auto"))
    with pytest.raises(ApiValidationError) as info:
        chooser.post(ROWS, lambda body: (_ for _ in ()).throw(refusal()), [])
    message = str(info.value)
    assert message.count("as ") >= 4 and "schema_rows bodies with date-times" in message
    assert "flat objects with dates" in message and "body='schema_rows' or 'flat'" in message
    assert "C0" not in message and chooser.settled is None


def test_a_refusal_other_than_a_400_is_not_a_reason_to_switch():
    def forbidden(body):
        raise ApiForbiddenError("Monetate", "POST", "/data/gdpr/", 403, ["revoked"])

    chooser = BodyShapeChooser(shapes_to_try("auto", "auto"))
    with pytest.raises(ApiForbiddenError):
        chooser.post(ROWS, forbidden, [])
    assert chooser.settled is None


def test_a_later_400_once_settled_is_an_error_and_the_rows_acknowledged_before_it_are_kept():
    server = FakeServer("flat")
    chooser = BodyShapeChooser(shapes_to_try("auto", "datetime"))
    chooser.post(ROWS[:1], server.send, [])
    bad = [ROWS[0], {"customer_id": "C9", "delete_request_time": "2024-05-01"}, ROWS[2]]
    acknowledged: list[dict] = []
    with pytest.raises(ApiValidationError):
        chooser.post(bad, server.send, acknowledged)
    assert acknowledged == [ROWS[0]] and chooser.settled == BodyShape("flat", "datetime")


def test_concurrent_first_posts_try_the_shapes_once():
    server = FakeServer("flat", "date")
    chooser = BodyShapeChooser(shapes_to_try("auto", "auto"))
    threads = [threading.Thread(target=chooser.post, args=(ROWS, server.send, [])) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(server.accepted) == 24 and server.requests == 3 + 24  # three refusals, then one post per row


# -- IDs as text ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "text"), [
    (" C1 ", "C1"), (42, "42"), (12345.0, "12345"), (-3.0, "-3"), (decimal.Decimal("12345.00"), "12345"),
    (10**20, "100000000000000000000"),
])
def test_ids_are_text_and_whole_numbers_are_written_as_integers(value, text):
    assert customer_id_text(value) == (text, None)


@pytest.mark.parametrize(("value", "says"), [
    (12345.5, "a number with a fraction"), (float("nan"), "not finite"), (float("inf"), "not finite"),
    (decimal.Decimal("1.5"), "a number with a fraction"), (True, "true/false"), ("  ", "missing or empty"),
    (None, "missing or empty"), ({"id": 1}, "a dict is not a customer ID"),
])
def test_what_is_no_id_says_why_without_the_value(value, says):
    text, reason = customer_id_text(value)
    assert text is None and says in reason and "12345" not in reason


# -- the pre-check ---------------------------------------------------------------------------------------------

def precheck(tmp_path, answers, asked=None):
    def status_of(customer_id):
        if asked is not None:
            asked.append(customer_id)
        return answers[customer_id]

    return Precheck(tmp_path / "work", "erase__run__submit__-1.0123", status_of, 4, LOG)


def test_the_precheck_asks_once_keeps_its_answers_for_a_retry_and_leaves_out_what_it_cannot_read(tmp_path):
    answers = {"C1": DeletionStatus.FOUND, "C2": DeletionStatus.PENDING, "C3": DeletionStatus.NOT_FOUND,
               "C4": DeletionStatus.UNKNOWN}
    asked: list[str] = []
    first = precheck(tmp_path, answers, asked)
    assert first.ask(answers) == {"C1": True, "C2": True, "C3": False}
    assert first.ask(answers) == first.held and sorted(asked) == ["C1", "C2", "C3", "C4"]  # once per run
    saved = tmp_path / "work" / "erase__run__submit__-1.0123.precheck.json"
    assert saved.stat().st_mode & 0o777 == 0o600 and first.checked_at
    # A retry: the first try's submission made C3 PENDING under one reading; its saved answer stands.
    retry = precheck(tmp_path, {**answers, "C3": DeletionStatus.PENDING, "C5": DeletionStatus.NOT_FOUND}, asked := [])
    assert retry.ask(["C1", "C2", "C3", "C4", "C5"]) == {"C1": True, "C2": True, "C3": False, "C5": False}
    assert asked == ["C5"] and retry.checked_at == first.checked_at  # C4 (unreadable) may be submitted: not asked
    assert retry.unanswered == {"C4"}
    retry.discard()
    assert not saved.exists()


def test_a_damaged_precheck_file_is_named(tmp_path):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "erase__run__submit__-1.0123.precheck.json").write_text("{")
    with pytest.raises(StateFileError, match=r"precheck.json is not a pre-check file; delete it"):
        precheck(tmp_path, {}).load()
