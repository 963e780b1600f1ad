"""OpenLineage for the operators that post records: what they read, what they wrote, how much.

The OpenLineage provider calls ``get_openlineage_facets_on_complete`` (or ``_on_failure``) after the
task ran, in the task's process; the operator answers from the :class:`TaskLineage` it recorded
while it ran. OpenLineage is imported only then, so it stays optional (``pip install
airflow-provider-monetate[openlineage]``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from airflow_provider_monetate.lineage import TaskLineage

__all__ = ["OpenLineageMixin"]


class OpenLineageMixin:
    """``get_openlineage_facets_on_complete`` and ``_on_failure`` from :attr:`task_lineage`.

    Inputs: the files or object storage paths read. Outputs: each destination dataset, with
    ``outputStatistics`` (rows and bytes the destination acknowledged). Run facet
    ``monetateRunSummary``: the run summaries (counts only; never a row or a customer ID).
    """

    #: What this try read and wrote; set by ``run_parts`` before the first request.
    task_lineage: TaskLineage | None = None

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        return self._operator_lineage(failed=False)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        return self._operator_lineage(failed=True)

    def _operator_lineage(self, failed: bool) -> Any:
        from airflow_provider_monetate.lineage._openlineage import to_operator_lineage

        lineage = dataclasses.replace(self.task_lineage or TaskLineage(), failed=failed)
        return to_operator_lineage(lineage)
