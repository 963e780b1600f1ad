"""Lineage names: files, object storage paths, Monetate datasets and CDP entities, as OpenLineage names them."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_monetate._compat import ObjectStoragePath
from airflow_provider_monetate.lineage import (
    LineageDataset,
    TaskLineage,
    cdp_entity_dataset,
    monetate_dataset,
    source_dataset,
)


class StoredPath:
    """What the provider sees of an ObjectStoragePath on a store: a protocol, and its URI as str()."""

    def __init__(self, uri: str) -> None:
        self.protocol = uri.split("://", 1)[0]
        self._uri = uri

    def __str__(self) -> str:
        return self._uri


def test_a_local_file_is_namespace_file_and_its_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert source_dataset("rows.ndjson") == LineageDataset("file", str(tmp_path / "rows.ndjson"))
    assert source_dataset(Path("/data/rows.csv")) == LineageDataset("file", "/data/rows.csv")
    assert source_dataset("file:///data/rows.csv") == LineageDataset("file", "/data/rows.csv")
    assert source_dataset(ObjectStoragePath("file:///data/rows.csv")) == LineageDataset("file", "/data/rows.csv")


@pytest.mark.parametrize(("uri", "namespace", "name"), [
    ("s3://warehouse/exports/2026/rows.ndjson.gz", "s3://warehouse", "exports/2026/rows.ndjson.gz"),
    ("gs://bucket/rows.csv", "gs://bucket", "rows.csv"),
    ("abfs://container@account.dfs.core.windows.net/rows.json", "abfs://container@account.dfs.core.windows.net",
     "rows.json"),
])
def test_object_storage_is_namespace_scheme_and_bucket_and_name_the_key(uri, namespace, name):
    assert source_dataset(uri) == LineageDataset(namespace, name)
    assert source_dataset(StoredPath(uri)) == LineageDataset(namespace, name)
    assert source_dataset(uri).uri == uri  # the same place as an Airflow asset URI


def test_records_from_python_are_no_input():
    assert source_dataset(None) is None


def test_a_monetate_dataset_is_the_api_host_and_the_data_path():
    dataset = monetate_dataset("https://api.monetate.net/", "/api/data/v1/acme/production", "loyalty_events")
    assert dataset == LineageDataset("https://api.monetate.net", "/api/data/v1/acme/production/data/loyalty_events")
    assert dataset.uri == "https://api.monetate.net/api/data/v1/acme/production/data/loyalty_events"


def test_a_cdp_entity_is_the_api_host_and_tenant_dot_collection():
    dataset = cdp_entity_dataset("https://api7-green.agilone.com", "1234", "transactionItems")
    assert dataset == LineageDataset("https://api7-green.agilone.com", "1234.transactionItems")


def test_statistics_sum_the_parts_writing_to_one_dataset_and_leave_out_unfinished_parts():
    customers, events = (cdp_entity_dataset("https://cdp", "1", c) for c in ("customers", "events"))
    lineage = TaskLineage(
        outputs={"customers": customers, "Address": customers, "events": events},
        summaries={"customers": {"rows_sent": 3, "bytes_sent": 300}, "Address": {"rows_sent": 2, "bytes_sent": 50}},
    )
    assert lineage.statistics() == {customers: (5, 350)}  # events never finished: no statistics, not zero


@given(st.lists(st.text(alphabet="abcdefghij_/.", min_size=1, max_size=12), min_size=1, max_size=4))
def test_any_absolute_local_path_round_trips_through_its_uri(segments):
    path = "/" + "/".join(s.strip("/") or "x" for s in segments)
    dataset = source_dataset(path)
    assert dataset.namespace == "file"
    assert source_dataset(dataset.uri) == dataset
