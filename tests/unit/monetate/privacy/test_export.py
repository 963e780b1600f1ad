"""The auditors' export: CCPA record-keeping fields, CSV or JSON Lines, filtered by date, hashed IDs."""

from __future__ import annotations

import csv
import json

import pytest

from airflow_provider_monetate.exceptions import ConfigurationError
from airflow_provider_monetate.monetate.privacy._export import EXPORT_FIELDS
from airflow_provider_monetate.monetate.privacy._ledger import DeletionLedger, LedgerEntry, hash_id
from airflow_provider_monetate.monetate.privacy._register import ErasureRegister


@pytest.fixture
def register(tmp_path):
    register = ErasureRegister(tmp_path / "ledger", hash_ids=True)
    register.open("R-1", received_at="2024-05-01T09:30:00Z", regime="ccpa", manner="web form")
    register.ask("R-1", "monetate", ["C1", "C2"])
    DeletionLedger(tmp_path / "ledger", hash_ids=True).append([
        LedgerEntry("C1", "monetate", "confirmed", None, "2024-05-01T10:00:00.000000Z", "2024-05-03T02:00:00.000000Z",
                    request_id="R-1"),
        LedgerEntry("C2", "monetate", "not_held", None, "2024-05-01T10:00:00.000000Z", "2024-05-01T10:00:00.000000Z",
                    request_id="R-1"),
    ])
    register.open("R-2", received_at="2024-06-10", regime="gdpr", manner="email")
    register.deny("R-2", basis="could not verify the identity")
    return register


def test_csv_holds_the_record_keeping_fields(register, tmp_path):
    assert register.export(tmp_path / "audit.csv") == 3
    rows = list(csv.DictReader((tmp_path / "audit.csv").open()))
    assert tuple(rows[0]) == EXPORT_FIELDS
    first = rows[0]
    assert (first["request_id"], first["request_date"], first["nature_of_request"], first["manner_of_request"]) == (
        "R-1", "2024-05-01T09:30:00.000000Z", "deletion", "web form")
    assert (first["response_date"], first["nature_of_response"]) == (
        "2024-05-03T02:00:00.000000Z", "deleted; no data held")
    assert (first["due_date"], first["basis_for_denial"]) == ("2024-06-15T09:30:00.000000Z", "")
    assert {r["customer_id"] for r in rows[:2]} == {hash_id("C1"), hash_id("C2")} and rows[0]["id_hash"] == "sha256"
    denied = rows[2]
    assert (denied["request_id"], denied["basis_for_denial"], denied["system"]) == (
        "R-2", "could not verify the identity", "")
    assert "C1" not in (tmp_path / "audit.csv").read_text()


def test_json_lines_add_each_customers_timeline_and_filter_by_request_date(register, tmp_path):
    assert register.export(tmp_path / "june.jsonl", format="jsonl", since="2024-06-01", until="2024-07-01") == 1
    assert register.export(tmp_path / "may.jsonl", format="jsonl", until="2024-06-01") == 2
    rows = [json.loads(line) for line in (tmp_path / "may.jsonl").read_text().splitlines()]
    confirmed = next(r for r in rows if r["status"] == "confirmed")
    assert confirmed["timeline"] == [["confirmed", "2024-05-03T02:00:00.000000Z"]]


def test_unknown_formats_and_dates_are_refused(register, tmp_path):
    with pytest.raises(ConfigurationError, match="csv, jsonl"):
        register.export(tmp_path / "x.xml", format="xml")
    with pytest.raises(ConfigurationError, match="since"):
        register.export(tmp_path / "x.csv", since="last week")
