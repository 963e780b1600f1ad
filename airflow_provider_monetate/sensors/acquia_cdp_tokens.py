"""A guard for ingestion DAGs: is the Acquia CDP bearer token still good for long enough?"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

from airflow_provider_monetate._compat import BaseSensorOperator
from airflow_provider_monetate.acquia_cdp.tokens._hook_api import INVALID_TOKEN_ERRORS
from airflow_provider_monetate.acquia_cdp.tokens._store import TokenStore
from airflow_provider_monetate.exceptions import ConfigurationError
from airflow_provider_monetate.hooks.acquia_cdp import AcquiaCdpHook

__all__ = ["AcquiaCdpTokenExpirySensor"]


class AcquiaCdpTokenExpirySensor(BaseSensorOperator):
    """Succeed while the stored Acquia CDP token has more than ``fail_days`` left; warn as it nears expiry.

    Put it at the start of ingestion DAGs (and after the rotation). Each poke verifies the token
    with CDP (``GET /token``) and logs the days left: the smaller of CDP's ``expires_in`` and the
    expiry the token store tracks from the rotation's creates and extends (CDP's figure may be the
    fixed lifetime, not the seconds left; a token the store does not track, such as the ``token``
    extra, has CDP's figure only). At or below each ``warn_days`` threshold (default 30, 14, 7) it
    warns with growing urgency (a warning, a warning to check the rotation DAG, then an error at
    the last one). The poke returns ``False`` at or below ``fail_days`` (default 1) or when CDP
    rejects the token (401 or 403); a token that cannot be read at all (no store, nothing
    stored) raises at once.

    Why a sensor rather than a check operator: an unhealthy token can become healthy without
    anyone touching this DAG (the rotation DAG extends or replaces it), so waiting is sometimes
    the right answer, and Airflow users already know how to say how long to wait and what a
    failure means. By default ``timeout=0``: the first unhealthy poke fails the task (an
    ``AirflowSensorTimeout``, which is not retried), i.e. a plain check. Give it a ``timeout``
    (with ``mode="reschedule"`` to free the worker slot) to wait for the rotation to put things
    right, and ``soft_fail=True`` to skip the ingestion instead of failing it.

    :param acquia_cdp_conn_id: the ``acquia_cdp`` connection (templated).
    :param token_store: where the token state lives: a :class:`~airflow_provider_monetate.acquia_cdp.tokens.TokenStore`,
        a Variable name, or ``{"class": ..., "kwargs": ...}``. Default: the Variable named by the
        connection's ``token_variable`` extra, else its ``token`` extra.
    :param warn_days: days-left thresholds that log a warning, least urgent first.
    :param fail_days: at or below this many days left, the poke returns ``False``.
    :param timeout: seconds to keep poking before failing; ``0`` fails on the first unhealthy poke.
    :param poke_interval: seconds between pokes.
    """

    template_fields: Sequence[str] = ("acquia_cdp_conn_id",)

    def __init__(
        self,
        *,
        acquia_cdp_conn_id: str = AcquiaCdpHook.default_conn_name,
        token_store: TokenStore | str | dict[str, Any] | None = None,
        warn_days: Sequence[float] = (30, 14, 7),
        fail_days: float = 1,
        timeout: float = 0,
        poke_interval: float = 60,
        **kwargs,
    ) -> None:
        super().__init__(timeout=timeout, poke_interval=poke_interval, **kwargs)
        self.acquia_cdp_conn_id = acquia_cdp_conn_id
        self.token_store = token_store
        self.warn_days = tuple(sorted(warn_days, reverse=True))
        self.fail_days = fail_days
        if fail_days < 0 or any(days <= fail_days for days in self.warn_days):
            raise ConfigurationError(
                f"fail_days ({fail_days}) must be at least 0 and below every warn_days threshold {self.warn_days}."
            )

    @cached_property
    def hook(self) -> AcquiaCdpHook:
        return AcquiaCdpHook(self.acquia_cdp_conn_id, token_store=self.token_store)

    def poke(self, context: Mapping[str, Any]) -> bool:
        try:
            days_left = self.hook.verify_token().days_left
        except INVALID_TOKEN_ERRORS as error:
            self.log.error(
                "The Acquia CDP token is invalid (%s on GET /token): it expired, was deleted or was replaced "
                "by a newer one. Run the token rotation DAG to create a new one.",
                error.status,
            )
            return False
        if days_left <= self.fail_days:
            self.log.error(
                "The Acquia CDP token expires in %.1f days (fail threshold %s): ingestion stops when it does. "
                "Run the token rotation DAG now.",
                days_left, self.fail_days,
            )
            return False
        crossed = [days for days in self.warn_days if days_left <= days]
        if not crossed:
            self.log.info("The Acquia CDP token is valid for %.1f more days.", days_left)
        elif len(crossed) == len(self.warn_days):
            self.log.error(
                "URGENT: the Acquia CDP token expires in %.1f days (<= %s). Run the token rotation DAG now; "
                "this check fails at %s days left.",
                days_left, crossed[-1], self.fail_days,
            )
        elif len(crossed) > 1:
            self.log.warning(
                "The Acquia CDP token expires in %.1f days (<= %s) and has not been extended or replaced: "
                "check that the token rotation DAG runs and succeeds.",
                days_left, crossed[-1],
            )
        else:
            self.log.warning(
                "The Acquia CDP token expires in %.1f days (<= %s); the token rotation DAG should extend or "
                "replace it soon.",
                days_left, crossed[-1],
            )
        return True
