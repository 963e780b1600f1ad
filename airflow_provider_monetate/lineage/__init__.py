"""What a task read and wrote, named the way OpenLineage names datasets. No Airflow, no OpenLineage.

Names (OpenLineage's naming conventions, and Airflow's for files):

- a local file: namespace ``file``, name its absolute path;
- an object storage path: namespace ``{scheme}://{bucket}``, name the key;
- a Monetate dataset: namespace the Data API's base URL, name
  ``/api/data/v1/{shortname}/{environment}/data/{dataset}``;
- an Acquia CDP entity: namespace the tenant's API base URL, name ``{tenant_id}.{collection}``
  (``customers``, ``transactions``, ...), as a database names ``{schema}.{table}``.

:class:`TaskLineage` is what a task records while it runs; ``lineage._openlineage`` turns it into
OpenLineage objects when the OpenLineage provider asks (only then is OpenLineage imported).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

__all__ = ["LineageDataset", "TaskLineage", "cdp_entity_dataset", "monetate_dataset", "source_dataset"]


@dataclass(frozen=True)
class LineageDataset:
    """A dataset as OpenLineage names it; :attr:`uri` is the same place as an Airflow asset URI."""

    namespace: str
    name: str

    @property
    def uri(self) -> str:
        if self.namespace == "file":
            return f"file://{self.name}"
        return f"{self.namespace.rstrip('/')}/{self.name.lstrip('/')}"


@dataclass
class TaskLineage:
    """What one try of a task read and wrote.

    :param inputs: the files or object storage paths read (records from Python or XCom are none).
    :param outputs: per load part (``""`` for a task with one input), the dataset it writes to.
    :param summaries: per part, the run summary once the part finished (counts only, never a row).
    :param failed: the try failed; ``summaries`` then holds what finished before the failure.
    """

    inputs: list[LineageDataset] = field(default_factory=list)
    outputs: dict[str, LineageDataset] = field(default_factory=dict)
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: bool = False

    def statistics(self) -> dict[LineageDataset, tuple[int, int]]:
        """``{output: (rows, bytes)}`` acknowledged by the destination, summed over the parts writing to it."""
        totals: dict[LineageDataset, tuple[int, int]] = {}
        for part, dataset in self.outputs.items():
            summary = self.summaries.get(part)
            if summary is None:
                continue
            rows, size = totals.get(dataset, (0, 0))
            totals[dataset] = (rows + int(summary.get("rows_sent") or 0), size + int(summary.get("bytes_sent") or 0))
        return totals


def source_dataset(location: Any) -> LineageDataset | None:
    """The dataset of a record source: a local path or an object storage path; ``None`` for anything else."""
    if location is None:
        return None
    # Storage paths carry a protocol (on Airflow 2 they are also PathLike, with a URL as fspath).
    text = str(location) if hasattr(location, "protocol") else os.fspath(location)
    if "://" not in text:
        return LineageDataset("file", os.path.abspath(text))
    parts = urlsplit(text)
    if parts.scheme in ("file", "local"):
        return LineageDataset("file", parts.path)
    return LineageDataset(f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/"))


def monetate_dataset(base_url: str, data_path: str, dataset: str) -> LineageDataset:
    """A Monetate dataset: ``data_path`` is the hook's ``/api/data/v1/{shortname}/{environment}``."""
    return LineageDataset(base_url.rstrip("/"), f"{data_path}/data/{dataset}")


def cdp_entity_dataset(base_url: str, tenant_id: str, collection: str) -> LineageDataset:
    """An Acquia CDP entity of a tenant, by its collection name (``customers``, ``transactionItems``, ...)."""
    return LineageDataset(base_url.rstrip("/"), f"{tenant_id}.{collection}")
