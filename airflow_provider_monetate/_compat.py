"""The one place that knows where Airflow keeps its authoring classes.

Airflow 3 exposes them from ``airflow.sdk``; Airflow 2.11 from the older module paths.
Every other module imports them from here.
"""

from __future__ import annotations

try:  # Airflow 3.x
    from airflow.sdk import (
        Asset,
        BaseHook,
        BaseOperator,
        BaseSensorOperator,
        Connection,
        ObjectStoragePath,
        Variable,
    )
    from airflow.sdk.configuration import conf
    from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout
    from airflow.sdk.log import mask_secret

    AIRFLOW_V_3 = True
except ImportError:  # Airflow 2.11
    from airflow.configuration import conf  # type: ignore[no-redef]
    from airflow.datasets import Dataset as Asset  # type: ignore[no-redef]
    from airflow.exceptions import AirflowFailException, AirflowSensorTimeout  # type: ignore[no-redef]
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef]
    from airflow.io.path import ObjectStoragePath  # type: ignore[no-redef]
    from airflow.models import BaseOperator, Connection, Variable  # type: ignore[no-redef]
    from airflow.sensors.base import BaseSensorOperator  # type: ignore[no-redef]
    from airflow.utils.log.secrets_masker import mask_secret  # type: ignore[no-redef]

    AIRFLOW_V_3 = False

from airflow.triggers.base import BaseTrigger, TriggerEvent


def configured_executors() -> list[str]:
    """The executors ``[core] executor`` names (Airflow 3 takes a comma-separated list)."""
    value = conf.get("core", "executor", fallback="") or ""
    return [name.strip() for name in value.split(",") if name.strip()]


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
    "mask_secret",
]
