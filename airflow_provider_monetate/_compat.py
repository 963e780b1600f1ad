"""The one place that knows where Airflow keeps its authoring classes.

Airflow 3 exposes them from ``airflow.sdk`` (3.1 added ``BaseHook``, 3.2 ``conf`` and the
exceptions); Airflow 2.11 from the older module paths.
Every other module imports them from here.
"""

from __future__ import annotations

from typing import Any

try:  # Airflow 3.x
    from airflow.sdk import (
        Asset,
        BaseOperator,
        BaseSensorOperator,
        Connection,
        ObjectStoragePath,
        Variable,
    )
    from airflow.sdk.log import mask_secret

    AIRFLOW_V_3 = True
except ImportError:  # Airflow 2.11
    from airflow.datasets import Dataset as Asset  # type: ignore[no-redef]
    from airflow.io.path import ObjectStoragePath  # type: ignore[no-redef]
    from airflow.models import BaseOperator, Connection, Variable  # type: ignore[no-redef]
    from airflow.sensors.base import BaseSensorOperator  # type: ignore[no-redef]
    from airflow.utils.log.secrets_masker import mask_secret  # type: ignore[no-redef]

    AIRFLOW_V_3 = False

try:  # Airflow >= 3.1
    from airflow.sdk import BaseHook
except ImportError:  # Airflow 2.11, 3.0
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef]

try:  # Airflow >= 3.2 moved these into the task SDK and deprecated the old paths
    from airflow.sdk.configuration import conf
    from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout
except ImportError:  # Airflow 2.11, 3.0, 3.1
    from airflow.configuration import conf  # type: ignore[no-redef]
    from airflow.exceptions import AirflowFailException, AirflowSensorTimeout  # type: ignore[no-redef]

from airflow.triggers.base import BaseTrigger, TriggerEvent


def configured_executors() -> list[str]:
    """The executors ``[core] executor`` names (Airflow 3 takes a comma-separated list)."""
    value = conf.get("core", "executor", fallback="") or ""
    return [name.strip() for name in value.split(",") if name.strip()]


def operator_lineage() -> type:
    """The OpenLineage provider's ``OperatorLineage``; only the provider's own extractor calls for it."""
    from airflow.providers.openlineage.extractors import OperatorLineage

    return OperatorLineage


def hook_lineage_collector() -> Any:
    """Airflow 3's hook lineage collector (a no-op one unless a lineage reader is installed), else ``None``.

    Airflow 2's collector takes datasets, not assets; the operators' OpenLineage methods cover it.
    """
    try:  # Airflow >= 3.2
        from airflow.sdk.lineage import get_hook_lineage_collector
    except ImportError:
        try:  # Airflow 3.0, 3.1 (and 2.11, whose collector is left out below)
            from airflow.lineage.hook import get_hook_lineage_collector
        except ImportError:
            return None
    collector = get_hook_lineage_collector()
    return collector if hasattr(collector, "add_output_asset") else None


__all__ = [
    "AIRFLOW_V_3",
    "AirflowFailException",
    "AirflowSensorTimeout",
    "Asset",
    "BaseHook",
    "BaseOperator",
    "BaseSensorOperator",
    "BaseTrigger",
    "Connection",
    "ObjectStoragePath",
    "TriggerEvent",
    "Variable",
    "conf",
    "configured_executors",
    "hook_lineage_collector",
    "mask_secret",
    "operator_lineage",
]
