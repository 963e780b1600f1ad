"""TaskLineage as the OpenLineage provider wants it. Imported only when that provider asks.

The run facet ``monetateRunSummary`` carries the task's run summaries (counts, times, the rejects
summary: never a row or a customer ID); its JSON schema is ``run_summary_facet.json`` beside this file.
"""

from __future__ import annotations

from typing import Any

import attr
from openlineage.client.generated.base import InputDataset, OutputDataset, RunFacet
from openlineage.client.generated.output_statistics_output_dataset import OutputStatisticsOutputDatasetFacet

from airflow_provider_monetate._compat import operator_lineage
from airflow_provider_monetate.lineage import TaskLineage

__all__ = ["RUN_SUMMARY_FACET", "MonetateRunSummaryRunFacet", "to_operator_lineage"]

RUN_SUMMARY_FACET = "monetateRunSummary"


@attr.define
class MonetateRunSummaryRunFacet(RunFacet):
    """The run summaries of a load, ingest, deletion or erasure task.

    :param parts: per part (``""`` for a task with one input; the CDP collection otherwise), the summary
        the task returned: rows read, sent, rejected, excluded, batches, retries, seconds, ...
    :param failed: the try failed; ``parts`` holds only what finished before it did.
    """

    parts: dict[str, dict[str, Any]] = attr.field(factory=dict)
    failed: bool = attr.field(default=False)

    @staticmethod
    def _get_schema() -> str:
        return "urn:airflow-provider-monetate:facets:MonetateRunSummaryRunFacet:1-0-0"


def to_operator_lineage(lineage: TaskLineage) -> Any:
    """An ``OperatorLineage``: inputs, outputs with their statistics (rows and bytes acknowledged), the summary."""
    statistics = lineage.statistics()
    outputs = []
    for dataset in dict.fromkeys(lineage.outputs.values()):  # each once, in order
        facets = {}
        if dataset in statistics:
            rows, size = statistics[dataset]
            facets["outputStatistics"] = OutputStatisticsOutputDatasetFacet(rowCount=rows, size=size)
        outputs.append(OutputDataset(namespace=dataset.namespace, name=dataset.name, outputFacets=facets))
    inputs = [InputDataset(namespace=d.namespace, name=d.name) for d in dict.fromkeys(lineage.inputs)]
    summary = MonetateRunSummaryRunFacet(parts=lineage.summaries, failed=lineage.failed)
    return operator_lineage()(inputs=inputs, outputs=outputs, run_facets={RUN_SUMMARY_FACET: summary})
