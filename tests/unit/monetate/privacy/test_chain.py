"""Tamper evidence: every ledger entry chained, every part linked; concurrent writers still verify."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from airflow_provider_monetate.monetate.privacy._chain import LINKED_SUFFIX, entry_hash
from airflow_provider_monetate.monetate.privacy._ledger import DeletionLedger, LedgerEntry
from tests.support.fake_object_store import FakeObjectPath

ASKED = "2024-05-01T09:30:00.000000Z"


def entry(cid: str, status: str = "submitted") -> LedgerEntry:
    return LedgerEntry(cid, "monetate", status, ASKED, ASKED)


def parts(folder):
    return sorted(p for p in folder.iterdir() if p.name.endswith(".jsonl"))


def rewrite_line(path, number, change, rehash=False):
    lines = path.read_text().splitlines()
    record = json.loads(lines[number - 1])
    change(record)
    if rehash:
        record["hash"] = entry_hash(record)
    lines[number - 1] = json.dumps(record, separators=(",", ":"))
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def ledger(tmp_path):
    ledger = DeletionLedger(tmp_path)
    ledger.append([entry("C1"), entry("C2")])
    ledger.append([entry("C3")])
    ledger.append([entry("C1", "confirmed"), entry("C2", "confirmed")])
    return ledger


def test_an_untouched_ledger_verifies(ledger):
    check = ledger.verify()
    assert check.ok and check.parts == 3 and check.entries == 5 and len(check.heads) == 1
    assert [r["customer_id"] for r in ledger.records()] == ["C1", "C2", "C3", "C1", "C2"]  # link lines are no entries


def test_editing_one_line_names_that_entry(ledger, tmp_path):
    second = parts(tmp_path)[1]
    rewrite_line(second, 2, lambda r: r.update(customer_id="C9"))
    check = ledger.verify()
    assert not check.ok and (check.part, check.line) == (second.name, 2)
    assert "does not match its hash" in check.problem and second.name in check.describe()
    assert "C9" not in check.describe() and "C3" not in check.describe()  # never a customer ID


def test_editing_a_line_and_its_hash_is_seen_from_the_next_line(ledger, tmp_path):
    first = parts(tmp_path)[0]
    rewrite_line(first, 2, lambda r: r.update(status="confirmed"), rehash=True)
    check = ledger.verify()
    assert (check.part, check.line) == (first.name, 3) and "prev differs" in check.problem


def test_rewriting_the_end_of_a_linked_part_is_seen_from_the_part_that_links_it(ledger, tmp_path):
    first = parts(tmp_path)[0]
    rewrite_line(first, 3, lambda r: r.update(status="confirmed"), rehash=True)  # the last line: no next line
    check = ledger.verify()
    assert check.part == first.name and check.line is None and "changed after part" in check.problem


def test_removing_a_part_is_seen(ledger, tmp_path):
    middle = parts(tmp_path)[1]
    middle.unlink()
    check = ledger.verify()
    assert not check.ok and check.part == middle.name and "missing" in check.problem


def test_removing_the_newest_part_is_seen_from_the_marker_it_left(ledger, tmp_path):
    newest = parts(tmp_path)[-1]
    newest.unlink()
    check = ledger.verify()
    assert not check.ok and check.part == parts(tmp_path)[-1].name and "was removed" in check.problem


def test_a_renamed_part_is_seen(ledger, tmp_path):
    first = parts(tmp_path)[0]
    first.rename(first.with_name(first.name.replace(first.name[-18:-6], "0" * 12)))
    assert not ledger.verify().ok


def test_parts_written_before_the_chain_are_vouched_for_by_the_next_write(tmp_path):
    legacy = tmp_path / "20240501T100000.000000Z-0123456789ab.jsonl"
    legacy.write_text(json.dumps({"customer_id": "OLD", "system": "monetate", "status": "submitted"}) + "\n")
    ledger = DeletionLedger(tmp_path)
    assert not ledger.verify().ok  # nothing vouches for it yet
    ledger.append([entry("C1")])
    assert DeletionLedger(tmp_path).verify().ok
    legacy.write_text(json.dumps({"customer_id": "EDITED", "system": "monetate", "status": "submitted"}) + "\n")
    check = DeletionLedger(tmp_path).verify()
    assert check.part == legacy.name and "changed after part" in check.problem


def test_concurrent_writers_in_threads_produce_a_chain_that_verifies(tmp_path):
    shared = DeletionLedger(tmp_path)

    def write(n: int) -> None:
        # half the writes through one shared instance (a task's threads), half through their own (mapped tasks)
        ledger = shared if n % 2 else DeletionLedger(tmp_path)
        ledger.append([entry(f"C{n}-{i}") for i in range(3)])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(40)))
    check = DeletionLedger(tmp_path).verify()
    assert check.ok, check.describe()
    assert check.parts == 40 and check.entries == 120
    DeletionLedger(tmp_path).append([entry("LAST")])  # the next writer joins every fork
    joined = DeletionLedger(tmp_path).verify()
    assert joined.ok and len(joined.heads) == 1


class _ThreadSafeObjects(dict):
    """The fake store's dict, listed from a snapshot (a real store lists while others write)."""

    def __iter__(self):
        return iter(list(self.keys()))


def test_concurrent_writers_on_object_storage_produce_a_chain_that_verifies():
    objects: dict[str, bytes] = _ThreadSafeObjects()
    start = threading.Barrier(6)

    def write(n: int) -> None:
        ledger = DeletionLedger(FakeObjectPath(objects, "s3://bucket/ledger"))
        start.wait()  # every writer lists the store before any has written: they all fork
        ledger.append([entry(f"C{n}")])
        ledger.append([entry(f"C{n}", "confirmed")])

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(write, range(6)))
    check = DeletionLedger(FakeObjectPath(objects, "s3://bucket/ledger")).verify()
    assert check.ok, check.describe()
    assert check.parts == 12 and 1 <= len(check.heads) <= 6
    key = next(k for k in sorted(objects) if b'"submitted"' in objects[k])
    objects[key] = objects[key].replace(b'"submitted"', b'"confirmed"')
    assert not DeletionLedger(FakeObjectPath(objects, "s3://bucket/ledger")).verify().ok


def test_a_lost_marker_only_makes_a_part_linked_twice(ledger, tmp_path):
    for marker in tmp_path.glob(f"*{LINKED_SUFFIX}"):
        marker.unlink()
    DeletionLedger(tmp_path).append([entry("C4")])
    assert DeletionLedger(tmp_path).verify().ok
