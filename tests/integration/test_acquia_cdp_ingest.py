"""AcquiaCdpIngestOperator and AcquiaCdpDeleteCustomersOperator against the emulator."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from airflow_provider_monetate._compat import AirflowFailException
from airflow_provider_monetate.acquia_cdp import _webtag
from airflow_provider_monetate.exceptions import (
    ApiAuthError,
    ApiForbiddenError,
    ApiUnavailableError,
    ApiValidationError,
    ConfigurationError,
)
from airflow_provider_monetate.hooks.acquia_cdp import AcquiaCdpHook
from airflow_provider_monetate.loading._delivery import BatchesInDoubtError
from airflow_provider_monetate.loading._pipeline import TooManyRejectedRowsError
from airflow_provider_monetate.monetate.privacy._ledger import DeletionLedger, hash_id
from airflow_provider_monetate.operators.acquia_cdp import (
    AcquiaCdpDeleteCustomersOperator,
    AcquiaCdpIngestOperator,
    MissingSourceSystemIdError,
)
from airflow_provider_monetate.testing.readings import readings_of

pytestmark = pytest.mark.integration

TENANT = "1234"
EXAMPLES = Path(__file__).parent.parent.parent / "example_dags"



@pytest.fixture(autouse=True)
def setup(emulator, monkeypatch, tmp_path, fast_retries):
    connect(emulator, monkeypatch)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    fast_retries(max_attempts=6)


def connect(emulator, monkeypatch, **extra):
    """Point acquia_cdp_default at the emulator (source_system_id "test" unless overridden)."""
    conn = json.loads(emulator.cdp_conn_json(token=emulator.issue_cdp_token()))
    conn["extra"].update(extra)
    monkeypatch.setenv("AIRFLOW_CONN_ACQUIA_CDP_DEFAULT", json.dumps(conn))


def context():
    return {"ti": SimpleNamespace(dag_id="cdp_dag", run_id="run-1", task_id="cdp", map_index=-1)}


def ingest(entities, **kwargs):
    return AcquiaCdpIngestOperator(task_id="cdp", entities=entities, **kwargs).execute(context())


def delete(**kwargs):
    return AcquiaCdpDeleteCustomersOperator(task_id="cdp", **kwargs).execute(context())


def records(emulator, entity):
    return emulator.cdp_records(TENANT, entity)


def tracker_requests(emulator):
    return emulator.counters().get("cdp.tracker", {}).get("requests", 0)


def customers(n, start=0):
    return [{"SourceCustomerNumber": f"C-{i}", "Email": f"c{i}@example.com", "FirstName": f"Name{i}"}
            for i in range(start, start + n)]


def transactions(n):
    return [{"SourceTransactionNumber": f"T-{i}", "SourceCustomerNumber": f"C-{i % 5}",
             "SourceOrganizationNumber": "STORE-1", "TransactionTimeStamp": "2024-05-01T12:00:00Z", "Total": 10 + i}
            for i in range(n)]


def events(n):
    return [{"Type": "emailOpen", "SourceCustomerNumber": f"C-{i % 5}", "EventTimeStamp": 1714564800 + i}
            for i in range(n)]


# -- ingestion -----------------------------------------------------------------------------

def test_four_entities_are_converted_and_loaded(emulator, tmp_path):
    items = tmp_path / "items.ndjson"
    items.write_text("".join(json.dumps(
        {"SourceTransactionItemNumber": f"T-{i}-1", "SourceTransactionNumber": f"T-{i}", "SourceOrganizationNumber":
         "STORE-1", "SourceProductNumber": "P-1", "InvoiceDate": "2024-05-01", "ShipDate": ""}) + "\n"
        for i in range(7)))
    summary = ingest({"customers": customers(5), "transactions": transactions(7), "transactionItems": str(items),
                      "events": events(9)}, batch_size=3)
    assert {c: s["rows_sent"] for c, s in summary.items()} == {
        "customers": 5, "transactions": 7, "transactionItems": 7, "events": 9}
    assert summary["events"]["batches"] == 3 and summary["customers"]["source_system_id_filled"] == 5
    assert len(records(emulator, "customers")) == 5 and len(records(emulator, "events")) == 9
    transaction = records(emulator, "transactions")[0]
    assert transaction["TransactionTimeStamp"] == 1714564800 and transaction["SourceSystemID"] == "test"
    item = records(emulator, "transactionItems")[0]
    assert item["InvoiceDate"] == 1714521600 and item["ShipDate"] is None
    assert emulator.cdp_stats()["kfk0_records"] == 0


def test_custom_entities_are_keyed_by_their_source_number(emulator):
    ingest({"PetInfo": [{"SourcePetInfoNumber": "PET-1", "SourceCustomerNumber": "C-1", "Species": "cat"}]})
    assert records(emulator, "PetInfo") == [
        {"SourcePetInfoNumber": "PET-1", "SourceCustomerNumber": "C-1", "Species": "cat", "SourceSystemID": "test"}]


def test_a_nested_value_in_events_stops_customers_too_before_anything_is_sent(emulator, tmp_path):
    bad = events(5)
    bad[2]["Properties"] = {"Color": "red"}
    with pytest.raises(TooManyRejectedRowsError) as info:
        ingest({"customers": customers(3), "events": bad}, rejects_path=str(tmp_path / "rejects.jsonl"))
    message = str(info.value)
    assert "Nothing was sent" in message and "events: 1 of 5 rows in" in message
    assert "row 3 field 'Properties': nested object at Properties.Color" in message
    assert tracker_requests(emulator) == 0 and records(emulator, "customers") == []
    report = [json.loads(line) for line in (tmp_path / "rejects.events.jsonl").read_text().splitlines()]
    assert report == [{"row": 3, "field": "Properties", "reason": report[0]["reason"]}]
    assert not (tmp_path / "rejects.customers.jsonl").exists()  # no rejection, no report


def test_nested_json_would_have_drawn_a_422(emulator):
    """The rule the operator enforces is the tracker's: a raw nested post is refused."""
    hook = AcquiaCdpHook()
    with pytest.raises(Exception, match="422"):
        hook.post_entities({"customers": [{"SourceCustomerNumber": "C-1", "Address": {"City": "X"},
                                           "SourceSystemID": "test"}]})


def test_missing_source_system_id_without_a_default_sends_nothing(emulator, monkeypatch):
    connect(emulator, monkeypatch, source_system_id=None)
    mixed = customers(3)
    mixed[0]["SourceSystemID"] = "crm"  # records that carry their own are fine, the others are not
    with pytest.raises(MissingSourceSystemIdError, match=r"\(2 in customers, 4 in events\).*KFK_0.*removals"):
        ingest({"customers": mixed, "events": events(4)})
    assert tracker_requests(emulator) == 0
    assert emulator.cdp_stats()["kfk0_records"] == 0
    # Everything carrying its own SourceSystemID needs no default.
    ingest({"customers": [{**c, "SourceSystemID": "crm"} for c in customers(3)]})
    assert {r["SourceSystemID"] for r in records(emulator, "customers")} == {"crm"}


def test_missing_source_system_id_with_a_default(emulator, monkeypatch):
    connect(emulator, monkeypatch, source_system_id=None)
    summary = ingest({"customers": customers(4), "events": events(2)}, source_system_id="warehouse")
    assert summary["events"]["source_system_id_filled"] == 2
    connect(emulator, monkeypatch, source_system_id="from-conn")
    ingest({"customers": customers(2, start=10)})
    stored = {r["SourceCustomerNumber"]: r["SourceSystemID"] for r in records(emulator, "customers")}
    assert stored == {"C-0": "warehouse", "C-1": "warehouse", "C-2": "warehouse", "C-3": "warehouse",
                      "C-10": "from-conn", "C-11": "from-conn"}
    assert {r["SourceSystemID"] for r in records(emulator, "events")} == {"warehouse"}
    assert emulator.cdp_stats()["kfk0_records"] == 0  # no record landed under KFK_0


def test_kfk0_as_the_default_is_refused(emulator):
    with pytest.raises(ConfigurationError, match="KFK_0"):
        ingest({"customers": customers(1)}, source_system_id="KFK_0")
    assert tracker_requests(emulator) == 0


def test_wrong_unit_timestamps_are_refused_before_sending(emulator, monkeypatch):
    millis = [{"Type": "emailOpen", "SourceCustomerNumber": "C-1", "EventTimeStamp": 1714564800123}]
    with pytest.raises(TooManyRejectedRowsError, match=r"EventTimeStamp.*13-digit.*looks like milliseconds"):
        ingest({"events": millis})
    seconds = [{"SourceTransactionNumber": "T-1", "TransactionTimeStamp": "1714564800"}]
    with pytest.raises(TooManyRejectedRowsError, match=r"10-digit.*looks like seconds"):
        ingest({"transactions": seconds}, timestamp_unit="ms")
    assert tracker_requests(emulator) == 0
    # In the right unit both go through; the unit can come from the connection.
    connect(emulator, monkeypatch, timestamp_unit="ms")
    ingest({"events": millis})
    ingest({"transactions": seconds}, timestamp_unit="s")
    assert records(emulator, "events")[0]["EventTimeStamp"] == 1714564800123
    assert records(emulator, "transactions")[0]["TransactionTimeStamp"] == 1714564800


def test_a_bad_timestamp_unit_is_a_configuration_error(emulator):
    with pytest.raises(ConfigurationError, match="timestamp_unit"):
        ingest({"events": events(1)}, timestamp_unit="minutes")


def test_empty_strings_are_sent_as_null(emulator):
    summary = ingest({"customers": [{"SourceCustomerNumber": "C-1", "Email": "", "Phone": "", "FirstName": "Ana"}]})
    assert summary["customers"]["empty_strings_nulled"] == 2
    assert records(emulator, "customers")[0] == {"SourceCustomerNumber": "C-1", "Email": None, "Phone": None,
                                                 "FirstName": "Ana", "SourceSystemID": "test"}


def test_case_is_kept_and_a_miscased_known_field_is_refused(emulator):
    ingest({"customers": [{"SourceCustomerNumber": "C-1", "email": "x@example.com"}]})
    assert "email" in records(emulator, "customers")[0]
    with pytest.raises(TooManyRejectedRowsError, match=r"sourceSystemId.*case-sensitive"):
        ingest({"customers": [{"SourceCustomerNumber": "C-2", "sourceSystemId": "crm"}]})


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_throttling_and_server_errors_are_retried_for_keyed_entities(emulator, status):
    emulator.inject("cdp.tracker", "status", count=3, status=status, retry_after=0)
    summary = ingest({"customers": customers(50)}, batch_size=10)
    assert len(records(emulator, "customers")) == 50 and summary["customers"]["retries"] == 3


def test_a_dropped_connection_resends_a_keyed_batch_without_duplicates(emulator):
    emulator.inject("cdp.tracker", "drop", count=2)
    ingest({"transactions": transactions(40)}, batch_size=10)
    assert len(records(emulator, "transactions")) == 40


def test_events_are_retried_on_429_but_an_ambiguous_failure_is_not_resent(emulator):
    emulator.inject("cdp.tracker", "status", count=2, status=429, retry_after=0)
    ingest({"events": events(10)}, batch_size=5)
    assert len(records(emulator, "events")) == 10
    emulator.inject("cdp.tracker", "status", count=1, status=500)
    with pytest.raises(BatchesInDoubtError, match=r"batch 0 \(rows 1-5\)") as info:
        ingest({"events": events(10)}, batch_size=5, max_in_flight=1)
    assert "may have been processed" in str(info.value.__cause__)


def test_a_retry_skips_delivered_entities_and_holds_back_events_in_doubt(emulator, monkeypatch):
    """Customers delivered, events failed ambiguously: try 2 sends no customer again and refuses
    to resend the events batch in doubt; in_doubt="resend" finishes the job."""
    entities = {"customers": customers(20), "events": events(10)}
    original = AcquiaCdpHook.post_entities

    def post_entities(self, payload=None, *, body=None, **kwargs):
        if body is not None and body.startswith(b'{"events"'):
            raise ApiUnavailableError("Acquia CDP", "POST", "/tracker", None, ["simulated crash"], in_doubt=True)
        return original(self, payload, body=body, **kwargs)

    monkeypatch.setattr(AcquiaCdpHook, "post_entities", post_entities)
    with pytest.raises(BatchesInDoubtError, match=r"batch 0 \(rows 1-10\)"):  # named already by the failing try
        ingest(entities, batch_size=10, max_in_flight=1)
    monkeypatch.setattr(AcquiaCdpHook, "post_entities", original)
    sent_before = emulator.counters()["cdp.tracker"]["rows_received"]
    with pytest.raises(BatchesInDoubtError, match=r"batch 0 \(rows 1-10\)"):
        ingest(entities, batch_size=10)
    summary = ingest(entities, batch_size=10, in_doubt="resend")
    assert summary["customers"]["rows_already_sent"] == 20 and summary["customers"]["rows_sent"] == 0
    assert summary["events"]["rows_sent"] == 10 and summary["events"]["batches_resent"] == 1
    assert emulator.counters()["cdp.tracker"]["rows_received"] - sent_before == 10
    assert len(records(emulator, "events")) == 10


def test_dry_run_checks_everything_and_sends_nothing(emulator):
    summary = ingest({"customers": customers(12), "events": events(7)}, batch_size=5, dry_run=True)
    assert summary["customers"]["batches"] == 3 and summary["events"]["batches"] == 2
    assert tracker_requests(emulator) == 0


def test_bad_arguments_fail_before_sending(emulator):
    with pytest.raises(ConfigurationError, match="entities="):
        AcquiaCdpIngestOperator(task_id="cdp", entities={"customers": []}, records=[{}])
    for entities, match in (({}, "non-empty"), ({"customers": None}, "None"), ({"bad name": []}, "not a CDP entity"),
                            ({"customers": {"a": 1}}, "customers")):
        with pytest.raises(ConfigurationError, match=match):
            ingest(entities)
    assert tracker_requests(emulator) == 0


# -- deletion ------------------------------------------------------------------------------

def load_history(emulator):
    ingest({"customers": customers(5), "transactions": transactions(10), "events": events(6)})


def test_soft_delete_keeps_transactions_and_events(emulator, tmp_path):
    load_history(emulator)
    summary = delete(customer_numbers=["C-2", "C-4"], ledger_path=str(tmp_path / "ledger"),
                     delete_request_time="2024-05-01T09:00:00.000000Z")
    assert summary["customers"]["records_sent"] == {"customers": 2}
    stored = {r["SourceCustomerNumber"]: r for r in records(emulator, "customers")}
    assert stored["C-2"]["DeleteFlag"] is True and stored["C-4"]["DeleteFlag"] is True
    assert "DeleteFlag" not in stored["C-1"]
    assert stored["C-2"]["Email"] == "c2@example.com"  # a deletion sends keys only, never other attributes
    assert len(records(emulator, "transactions")) == 10
    assert all("DeleteFlag" not in r for r in records(emulator, "transactions") + records(emulator, "events"))
    assert emulator.cdp_stats()["soft_deleted"] == {TENANT: {"Customer": 2}}
    ledger = list(DeletionLedger(str(tmp_path / "ledger")).records(system="acquia_cdp"))
    assert sorted(r["customer_id"] for r in ledger) == ["C-2", "C-4"]
    assert {(r["status"], r["dataset"], r["delete_request_time"], r["dag_id"]) for r in ledger} == {
        ("submitted", "customers", "2024-05-01T09:00:00.000000Z", "cdp_dag")}


def test_ledger_can_hash_ids(emulator, tmp_path):
    delete(customer_numbers=["C-9"], ledger_path=str(tmp_path / "ledger"), ledger_hash_ids=True)
    [record] = DeletionLedger(str(tmp_path / "ledger")).records()
    assert record["customer_id"] == hash_id("C-9") and record["id_hash"] == "sha256"


def test_addresses_are_deleted_only_when_asked_in_the_customers_request(emulator, tmp_path):
    rows = [{"SourceCustomerNumber": "C-1", "SourceAddressNumber": "A-1", "SourceCustomerAddressXrefNumber": "X-1"}]
    delete(records=rows)
    assert records(emulator, "Address") == [] and records(emulator, "CustomerAddressXref") == []
    summary = delete(records=rows, delete_addresses=True)
    assert summary["customers"]["records_sent"] == {"customers": 1, "CustomerAddressXref": 1, "Address": 1}
    assert records(emulator, "Address")[0]["DeleteFlag"] is True
    assert records(emulator, "CustomerAddressXref")[0]["SourceCustomerNumber"] == "C-1"
    assert tracker_requests(emulator) == 2  # one request each time: addresses travel with their customer
    with pytest.raises(ConfigurationError, match="delete_addresses=True needs rows"):
        delete(customer_numbers=["C-1"], delete_addresses=True)


def test_custom_entities_need_explicit_source_entity_numbers(emulator):
    for custom, match in (({"PetInfo": []}, "SourcePetInfoNumber"),
                          ({"PetInfo": ["PET-1", None]}, "SourcePetInfoNumber"),
                          ({"transactions": ["T-1"]}, "never deleted")):
        with pytest.raises(ConfigurationError, match=match):
            delete(customer_numbers=["C-1"], custom_entities=custom)
    assert tracker_requests(emulator) == 0
    summary = delete(customer_numbers=["C-1"], custom_entities={"PetInfo": ["PET-1", "PET-2"]})
    assert summary["PetInfo"]["rows_sent"] == 2
    assert {r["SourcePetInfoNumber"]: r["DeleteFlag"] for r in records(emulator, "PetInfo")} == {
        "PET-1": True, "PET-2": True}


def test_a_row_without_customer_number_or_uuid_fails_the_deletion(emulator, tmp_path):
    source = tmp_path / "forget.csv"
    source.write_text("SourceCustomerNumber,Email\nC-1,a@example.com\n,b@example.com\n")
    with pytest.raises(TooManyRejectedRowsError, match=r"row 2 field 'SourceCustomerNumber'.*or UUID"):
        delete(source=str(source))
    assert tracker_requests(emulator) == 0


def test_deletion_without_source_system_id_is_refused(emulator, monkeypatch):
    connect(emulator, monkeypatch, source_system_id=None)
    with pytest.raises(MissingSourceSystemIdError, match=r"1 customer row.*KFK_0"):
        delete(customer_numbers=["C-1"])
    with pytest.raises(MissingSourceSystemIdError, match="PetInfo"):
        delete(customer_numbers=["C-1"], custom_entities={"PetInfo": ["PET-1"]})
    assert tracker_requests(emulator) == 0 and emulator.cdp_stats()["kfk0_records"] == 0
    delete(customer_numbers=["C-1"], source_system_id="crm")
    assert records(emulator, "customers")[0]["SourceSystemID"] == "crm"


def test_delete_takes_exactly_one_input(emulator):
    with pytest.raises(ConfigurationError, match="exactly one"):
        delete(customer_numbers=["C-1"], records=[{"SourceCustomerNumber": "C-2"}])
    with pytest.raises(ConfigurationError, match="list of SourceCustomerNumbers"):
        delete(customer_numbers="C-1")


# -- the example DAG through real Airflow --------------------------------------------------

@pytest.mark.airflow
def test_example_dag_runs_against_the_emulator(emulator, own_airflow):
    token = emulator.issue_cdp_token()
    result = own_airflow.dags_test("example_acquia_cdp_ingest", emulator.conn_env(token=token),
                                      dags_folder=EXAMPLES)
    assert result.succeeded, result.output[-3000:]
    assert len(records(emulator, "customers")) == 3 and len(records(emulator, "events")) == 3
    deleted = [r["SourceCustomerNumber"] for r in records(emulator, "customers") if r.get("DeleteFlag")]
    assert deleted == ["C-1003"]
    assert len(records(emulator, "transactions")) == 2  # C-1003's transaction is kept
    assert emulator.cdp_stats()["kfk0_records"] == 0


# -- issue 13: identifiers, collection spellings, repeated keys -------------------------------

def test_a_record_naming_kfk0_is_refused_before_anything_is_sent(emulator):
    rows = customers(3)
    rows[1]["SourceSystemID"] = "KFK_0"
    with pytest.raises(TooManyRejectedRowsError, match=r"row 2 field 'SourceSystemID': KFK_0 is CDP's default"):
        ingest({"customers": rows})
    assert tracker_requests(emulator) == 0 and emulator.cdp_stats()["kfk0_records"] == 0


@pytest.mark.parametrize("value", [True, "   "])
def test_a_boolean_or_blank_customer_number_is_refused_before_anything_is_sent(emulator, value):
    rows = customers(3)
    rows[2]["SourceCustomerNumber"] = value
    with pytest.raises(TooManyRejectedRowsError, match=r"customers: 1 of 3 rows.*row 3 field 'SourceCustomerNumber'"):
        ingest({"customers": rows, "events": events(2)})
    assert tracker_requests(emulator) == 0


def test_a_blank_customer_number_in_a_deletion_is_refused(emulator):
    with pytest.raises(TooManyRejectedRowsError, match=r"row 2 field 'SourceCustomerNumber': SourceCustomerNumber is"):
        delete(records=[{"SourceCustomerNumber": "C-1"}, {"SourceCustomerNumber": "  "}])
    assert tracker_requests(emulator) == 0


@pytest.mark.parametrize(("collection", "expected"), [("customer", "customers"), ("Customers", "customers"),
                                                      ("event", "events")])
def test_a_misspelled_standard_collection_fails_before_reading_naming_the_spelling(emulator, tmp_path, collection,
                                                                                    expected):
    missing_file = str(tmp_path / "never-read.ndjson")
    with pytest.raises(ConfigurationError, match=rf"{collection!r} is spelled {expected!r}"):
        ingest({collection: missing_file})
    assert tracker_requests(emulator) == 0


def test_of_customers_sharing_a_number_only_the_last_row_is_sent(emulator, tmp_path):
    rows = customers(600)
    rows[0] = {"SourceCustomerNumber": "C-7", "FirstName": "Old", "Phone": "555-0100"}  # row 1 ...
    rows[7] = {"SourceCustomerNumber": "C-7", "FirstName": "New"}                        # ... and row 8
    summary = ingest({"customers": rows, "events": events(4) + events(4)}, batch_size=100,
                     rejects_path=str(tmp_path / "rejects.jsonl"))
    assert summary["customers"]["rows_duplicate"] == 1 and summary["customers"]["rows_sent"] == 599
    assert summary["events"]["rows_duplicate"] == 0 and summary["events"]["rows_sent"] == 8  # events have no key
    [stored] = [r for r in records(emulator, "customers") if r["SourceCustomerNumber"] == "C-7"]
    assert stored["FirstName"] == "New" and "Phone" not in stored  # the earlier row was never sent
    report = json.loads((tmp_path / "rejects.customers.jsonl").read_text())
    # Customers repeat by SourceCustomerNumber, or UUID when they have none (issue 12): "key" names both.
    assert report == {"row": 1, "field": None,
                      "reason": "duplicate of row 8's key: only the last row with the same key is sent"}


# -- issue 12: the a1webtag scheme end to end ---------------------------------------------------------

NOON = datetime(2031, 3, 4, 12, tzinfo=timezone.utc)
WEBTAG_LOGIN = "webtag-service"
WEBTAG_POINTS = ("cdp.webtag_key_lifetime", "cdp.webtag_block", "cdp.webtag_key_encoding")
WEBTAG_READINGS = [dict(zip(WEBTAG_POINTS, combo, strict=True))
                   for combo in itertools.product(*map(readings_of, WEBTAG_POINTS))]


@pytest.fixture
def webtag(emulator, monkeypatch):
    """A webtag tenant: the connection's scheme is a1webtag; both clocks read the emulator's, from noon UTC."""
    pytest.importorskip("bcrypt")  # the provider's "webtag" extra
    emulator.clock.set(NOON.timestamp())
    monkeypatch.setattr(_webtag, "utc_now", lambda: datetime.fromtimestamp(emulator.clock.now(), timezone.utc))
    emulator.add_cdp_user(WEBTAG_LOGIN, "pw-webtag", "CS", TENANT, scheme="a1webtag")
    token = emulator.issue_cdp_token(WEBTAG_LOGIN)
    connect(emulator, monkeypatch, token=token, scheme="a1webtag")
    return token


def tracker_calls(emulator):
    return [r for r in emulator.requests() if r["route"] == "cdp.tracker"]


@pytest.mark.parametrize("chosen", WEBTAG_READINGS, ids=lambda chosen: "-".join(chosen.values()))
def test_a_webtag_tenant_ingests_with_the_key_in_the_query_and_no_authorization(emulator, webtag, chosen):
    emulator.set_readings(chosen)
    summary = ingest({"customers": customers(40), "events": events(12)}, batch_size=5)
    assert summary["customers"]["rows_sent"] == 40 and summary["events"]["rows_sent"] == 12
    assert len(records(emulator, "customers")) == 40 and len(records(emulator, "events")) == 12
    calls = tracker_calls(emulator)
    assert len(calls) == 8 + 3 and {c["status"] for c in calls} == {200}
    assert all("Authorization" not in c["headers"] for c in calls)
    assert {c["path"] for c in calls} == {f"/v2/{TENANT}/dw/tracker?scheme=a1webtag&accessKey=[REDACTED]"}
    assert emulator.cdp_stats()["webtag"] == {"failures": {}, "blocked": []}
    delete(customer_numbers=["C-3"])  # the deletion operator goes the same way
    assert [r["SourceCustomerNumber"] for r in records(emulator, "customers") if r.get("DeleteFlag")] == ["C-3"]


@pytest.mark.parametrize("reading", readings_of("cdp.webtag_block"))
def test_a_wrong_webtag_key_is_never_retried_not_even_with_eight_in_flight(emulator, webtag, monkeypatch, reading):
    emulator.set_reading("cdp.webtag_block", reading)
    connect(emulator, monkeypatch, token="not-the-webtag-users-token", scheme="a1webtag")
    with pytest.raises(AirflowFailException, match=r"webtag access key.*not retried.*block") as info:
        ingest({"customers": customers(80)}, batch_size=5, max_in_flight=8)
    assert isinstance(info.value.__cause__, ApiAuthError) and "not-the-webtag" not in str(info.value)
    assert tracker_requests(emulator) == 1 and records(emulator, "customers") == []
    blocked = [TENANT] if reading == "after_first_failure" else []
    assert emulator.cdp_stats()["webtag"] == {"failures": {TENANT: 1}, "blocked": blocked}


def test_a_blocked_webtag_tenant_fails_at_once_saying_why(emulator, webtag):
    emulator.set_reading("cdp.webtag_block", "after_first_failure")
    # Someone else's failed attempt blocks the tenant.
    requests.post(f"{emulator.url}/v2/{TENANT}/dw/tracker?scheme=a1webtag&accessKey=wrong", json={}, timeout=10)
    with pytest.raises(AirflowFailException, match=r"blocked.*not retried") as info:
        ingest({"customers": customers(30)}, batch_size=5)
    assert isinstance(info.value.__cause__, ApiForbiddenError)
    assert tracker_requests(emulator) == 2  # the stranger's and one of ours


def test_the_webtag_key_is_made_again_when_the_utc_date_changes(emulator, webtag):
    emulator.clock.set((NOON + timedelta(hours=11, minutes=58)).timestamp())  # 23:58 UTC
    hook = AcquiaCdpHook()
    hook.post_entities({"customers": [{**c, "SourceSystemID": "crm"} for c in customers(1)]})
    emulator.clock.advance(180)  # 00:01 UTC: yesterday's key is refused under the default reading
    hook.post_entities({"customers": [{**c, "SourceSystemID": "crm"} for c in customers(1, start=1)]})
    assert len(records(emulator, "customers")) == 2 and emulator.cdp_stats()["webtag"]["failures"] == {}


# -- issue 12: tracker rules no document states, the provider right under each reading ----------------

@pytest.mark.parametrize("reading", readings_of("cdp.event_delete_flag"))
def test_a_delete_flag_on_events_is_refused_before_sending_under_every_reading(emulator, reading):
    emulator.set_reading("cdp.event_delete_flag", reading)
    bad = events(3)
    bad[1]["DeleteFlag"] = True
    with pytest.raises(TooManyRejectedRowsError, match="row 2 field 'DeleteFlag': the Event entity has no DeleteFlag"):
        ingest({"events": bad})
    assert tracker_requests(emulator) == 0


@pytest.mark.parametrize("reading", readings_of("cdp.epoch_values"))
def test_timestamps_reach_the_tracker_as_epoch_seconds_under_every_reading(emulator, reading):
    emulator.set_reading("cdp.epoch_values", reading)
    moment = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
    rows = [{"SourceCustomerNumber": "C-1", "LastLoginTimeStamp": "2024-05-01T12:00:00Z", "SignupDate": moment,
             "Anniversary": "2024-05-01", "Note": "no date here"}]
    summary = ingest({"customers": rows, "transactions": transactions(2),
                      "events": [{"Type": "emailOpen", "SourceCustomerNumber": "C-1", "EventTimeStamp": moment}]})
    [stored] = records(emulator, "customers")
    assert (stored["LastLoginTimeStamp"], stored["SignupDate"], stored["Anniversary"]) == (
        1714564800, 1714564800, 1714521600)
    assert stored["Note"] == "no date here" and records(emulator, "events")[0]["EventTimeStamp"] == 1714564800
    assert summary["customers"]["timestamps_guessed"] == {"LastLoginTimeStamp": 1, "SignupDate": 1, "Anniversary": 1}
    assert summary["transactions"]["timestamps_guessed"] == {}  # TransactionTimeStamp is a known field


@pytest.mark.parametrize("reading", readings_of("cdp.epoch_values"))
def test_milliseconds_are_the_users_choice_and_seconds_the_safe_default(emulator, reading):
    emulator.set_reading("cdp.epoch_values", reading)
    rows = [{"Type": "emailOpen", "SourceCustomerNumber": "C-1", "EventTimeStamp": "2024-05-01T12:00:00Z"}]
    ingest({"events": rows})
    if reading == "seconds_only":
        with pytest.raises(ApiValidationError, match="milliseconds"):
            ingest({"events": rows}, timestamp_unit="ms")
    else:
        ingest({"events": rows}, timestamp_unit="ms")
    assert records(emulator, "events")[0]["EventTimeStamp"] == 1714564800


def test_an_explicit_timestamp_list_turns_the_guessing_off(emulator):
    rows = [{"SourceCustomerNumber": "C-1", "LastLoginTime": "2024-05-01T12:00:00Z", "Renewal": "2024-05-01"}]
    summary = ingest({"customers": rows}, timestamp_fields=["Renewal"])
    assert summary["customers"]["timestamps_guessed"] == {}
    [stored] = records(emulator, "customers")
    assert stored["LastLoginTime"] == "2024-05-01T12:00:00Z" and stored["Renewal"] == 1714521600


@pytest.mark.parametrize("reading", readings_of("cdp.collection_case"))
def test_collection_keys_are_sent_as_the_task_names_them_under_every_reading(emulator, reading):
    emulator.set_reading("cdp.collection_case", reading)
    ingest({"customers": customers(2)})  # the payload definition's spelling: taken under every reading
    capitalised = {"collection_names": {"customers": "Customers"}}
    if reading == "as_defined":
        with pytest.raises(ApiValidationError, match=r"422.*'Customers'"):
            ingest({"customers": customers(1, start=5)}, **capitalised)
    else:
        ingest({"customers": customers(1, start=5)}, **capitalised)
    assert len(records(emulator, "customers")) == (2 if reading == "as_defined" else 3)


ADDRESS_ROWS = [{"SourceCustomerNumber": "C-1", "SourceAddressNumber": "A-1", "SourceCustomerAddressXrefNumber": "X-1"}]
PLURAL_ADDRESSES = {"Address": "addresses", "CustomerAddressXref": "customerAddressXrefs"}


@pytest.mark.parametrize("reading", readings_of("cdp.address_collections"))
def test_address_deletions_under_each_reading_of_their_collection_keys(emulator, reading):
    emulator.set_reading("cdp.address_collections", reading)
    if reading == "plural_collections":
        with pytest.raises(ApiValidationError, match=r"422.*'customerAddressXrefs'"):  # loud, nothing half-done
            delete(records=ADDRESS_ROWS, delete_addresses=True)
        assert records(emulator, "customers") == [] and records(emulator, "Address") == []
        summary = delete(records=ADDRESS_ROWS, delete_addresses=True, collection_names=PLURAL_ADDRESSES)
        assert summary["customers"]["records_sent"] == {"customers": 1, "customerAddressXrefs": 1, "addresses": 1}
    else:
        delete(records=ADDRESS_ROWS, delete_addresses=True)
    assert records(emulator, "Address")[0]["DeleteFlag"] is True
    assert records(emulator, "CustomerAddressXref")[0]["DeleteFlag"] is True


# -- issue 12: key columns per entity, customers by UUID ------------------------------------------------

def test_a_custom_entity_keyed_by_its_own_column(emulator, tmp_path):
    emulator.cdp.set_entity_key("PetInfo", "SourcePetNumber")  # the tenant's configuration
    pets = [{"SourcePetNumber": "PET-1", "SourceCustomerNumber": "C-1", "Species": "cat"}]
    with pytest.raises(TooManyRejectedRowsError, match="SourcePetInfoNumber"):
        ingest({"PetInfo": pets})  # the default key column is Source{Entity}Number
    ingest({"PetInfo": pets}, key_fields={"PetInfo": "SourcePetNumber"})
    delete(customer_numbers=["C-1"], custom_entities={"PetInfo": ["PET-1"]}, key_fields={"PetInfo": "SourcePetNumber"})
    [stored] = records(emulator, "PetInfo")
    assert stored["SourcePetNumber"] == "PET-1" and stored["DeleteFlag"] is True and stored["Species"] == "cat"
    with pytest.raises(ConfigurationError, match="key_fields names 'Pets'"):
        ingest({"PetInfo": pets}, key_fields={"Pets": "SourcePetNumber"})


def test_customers_keyed_only_by_uuid_are_ingested(emulator, tmp_path):
    rows = [{"UUID": "u-1", "Email": "old@example.com"}, {"UUID": "u-2"}, {"UUID": "u-1", "Email": "new@example.com"}]
    summary = ingest({"customers": rows}, rejects_path=str(tmp_path / "rejects.jsonl"))
    assert summary["customers"]["rows_sent"] == 2 and summary["customers"]["rows_duplicate"] == 1
    assert sorted((r["UUID"], r.get("Email")) for r in records(emulator, "customers")) == [
        ("u-1", "new@example.com"), ("u-2", None)]
