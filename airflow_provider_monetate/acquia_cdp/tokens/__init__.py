"""Keeping Acquia CDP bearer tokens alive: rotation policies, the stored state, the daily decision, the store.

A token travels through a rotation run in this order:

* ``_store``: the :class:`TokenStore` (an Airflow Variable by default) is read;
* ``_hook_api``: the stored token is verified through the hook (401 or 403: invalid);
* ``_state``: the verify is taken in: the expiry in use is the earlier of the one tracked from
  the last create or extend and the one CDP reported (``expires_in`` may count down or be
  the fixed lifetime);
* ``_decision``: :func:`decide` picks the action from the :class:`RotationPolicy` (``_policy``),
  the :class:`TokenState`, the expiry in use and today's date;
* ``_rotation``: :func:`run_rotation` carries it out (extend, or count, create, store, verify,
  delete the previous token) in a crash-safe order, and writes the state back.

Everything here is pure Python; the Airflow operators are in
``airflow_provider_monetate.operators.acquia_cdp_tokens``.
"""

from __future__ import annotations

from airflow_provider_monetate.acquia_cdp.tokens._decision import Decision, IssuedToken, VerifyResult, decide
from airflow_provider_monetate.acquia_cdp.tokens._policy import (
    ACCELERATED,
    BUILT_IN_POLICIES,
    COMBINED,
    EXTENDED,
    RotationPolicy,
    custom_policy,
    get_policy,
)
from airflow_provider_monetate.acquia_cdp.tokens._rotation import TokenApi, run_rotation
from airflow_provider_monetate.acquia_cdp.tokens._state import RotationAction, TokenState
from airflow_provider_monetate.acquia_cdp.tokens._store import TokenStore, VariableTokenStore, load_store

__all__ = [
    "ACCELERATED",
    "BUILT_IN_POLICIES",
    "COMBINED",
    "EXTENDED",
    "Decision",
    "IssuedToken",
    "RotationAction",
    "RotationPolicy",
    "TokenApi",
    "TokenState",
    "TokenStore",
    "VariableTokenStore",
    "VerifyResult",
    "custom_policy",
    "decide",
    "get_policy",
    "load_store",
    "run_rotation",
]
