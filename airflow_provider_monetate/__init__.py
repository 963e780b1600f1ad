"""Apache Airflow provider for Monetate (Data API, Consumer Data Privacy API) and Acquia CDP."""

from __future__ import annotations

__all__ = ["__version__", "get_provider_info"]

__version__ = "0.1.0"


def get_provider_info() -> dict:
    """Provider metadata read by Airflow's ProvidersManager through the entry point."""
    from airflow_provider_monetate._provider_info import provider_info

    return provider_info(__version__)
