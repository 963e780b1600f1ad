"""What the hook tests share: a record of every secret the hooks register with the masker."""

from __future__ import annotations

import pytest

from airflow_provider_monetate.hooks import _base


@pytest.fixture
def masked(monkeypatch) -> list[str]:
    """Every value the hooks pass to Airflow's ``mask_secret``, in order (all through ``ProviderHook.hold``)."""
    registered: list[str] = []
    monkeypatch.setattr(_base, "mask_secret", registered.append)
    return registered
