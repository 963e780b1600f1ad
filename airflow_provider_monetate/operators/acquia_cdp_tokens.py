"""Operators that look after the Acquia CDP bearer token.

:class:`AcquiaCdpRotateTokenOperator` is the daily job: it verifies, extends, rotates and wipes
tokens as a :class:`~airflow_provider_monetate.acquia_cdp.tokens.RotationPolicy` says, within the
environment's token limit. The other operators are thin wrappers over the hook for manual use.

The token lives in a token store (by default the Variable named by the connection's
``token_variable`` extra); ingestion tasks read it from there through the hook. No operator
returns a token to XCom, logs it or puts it in an error message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from airflow_provider_monetate._compat import BaseOperator
from airflow_provider_monetate.acquia_cdp._environments import token_limit
from airflow_provider_monetate.acquia_cdp.tokens._hook_api import (
    INVALID_TOKEN_ERRORS,
    HookTokenApi,
    is_limit_refusal,
    limit_refusal_error,
)
from airflow_provider_monetate.acquia_cdp.tokens._policy import DAY, RotationPolicy, get_policy
from airflow_provider_monetate.acquia_cdp.tokens._rotation import run_rotation
from airflow_provider_monetate.acquia_cdp.tokens._state import RotationAction, TokenState
from airflow_provider_monetate.acquia_cdp.tokens._store import ReportingStore, TokenStore
from airflow_provider_monetate.exceptions import (
    ApiError,
    ConfigurationError,
    RotationPolicyError,
    RotationQuotaError,
)
from airflow_provider_monetate.hooks.acquia_cdp import AcquiaCdpHook

__all__ = [
    "AcquiaCdpCreateTokenOperator",
    "AcquiaCdpDeleteTokenOperator",
    "AcquiaCdpExtendTokenOperator",
    "AcquiaCdpRotateTokenOperator",
    "AcquiaCdpVerifyTokenOperator",
    "AcquiaCdpWipeTokensOperator",
]


def _days_left(state: TokenState, now: float) -> float | None:
    return round((state.expires_at - now) / DAY, 2) if state.expires_at is not None else None


class _TokenOperator(BaseOperator):
    """What every token operator shares: the connection, the store and the hook.

    :param acquia_cdp_conn_id: the ``acquia_cdp`` connection (templated).
    :param token_store: where the token state lives: a :class:`~airflow_provider_monetate.acquia_cdp.tokens.TokenStore`,
        a Variable name, or ``{"class": "dotted.path.ToStore", "kwargs": {...}}``. Default: the
        Variable named by the connection's ``token_variable`` extra.
    """

    template_fields: tuple[str, ...] = ("acquia_cdp_conn_id",)

    def __init__(
        self,
        *,
        acquia_cdp_conn_id: str = AcquiaCdpHook.default_conn_name,
        token_store: TokenStore | str | dict[str, Any] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.acquia_cdp_conn_id = acquia_cdp_conn_id
        self.token_store = token_store

    @cached_property
    def hook(self) -> AcquiaCdpHook:
        return AcquiaCdpHook(self.acquia_cdp_conn_id, token_store=self.token_store)

    def required_store(self) -> TokenStore:
        """The token store, wrapped so that a failed write says how to recover.

        :raises ConfigurationError: when neither ``token_store`` nor the ``token_variable`` extra is set.
        """
        store = self.hook.token_store
        if store is None:
            raise ConfigurationError(
                f"{type(self).__name__} needs somewhere to keep the token: set the 'token_variable' extra "
                f"of connection {self.acquia_cdp_conn_id!r} (an Airflow Variable name) or pass token_store=."
            )
        return ReportingStore(store, self.acquia_cdp_conn_id, self.hook.scheme)


class AcquiaCdpRotateTokenOperator(_TokenOperator):
    """Keep the Acquia CDP bearer token alive: verify, extend, rotate or wipe, as a policy says.

    Run it once a day, never two at a time (``max_active_runs=1``): two concurrent creates would
    invalidate each other's token. A second run on the same day does nothing, unless the stored
    token is missing or invalid (401 on verify): then it creates a replacement from the cycle's
    quota and says so in the log.

    Each run carries out :func:`~airflow_provider_monetate.acquia_cdp.tokens.run_rotation`: the
    creation is counted in the store before CDP is asked, the new token is stored and verified,
    then the previous one is deleted (an already invalid one is skipped). A run that dies at any
    point is put right by the next try, so give the task retries. It never creates more tokens per
    cycle than the environment allows: it wipes all tokens and starts a new cycle only when the
    policy's cycle is complete, and otherwise fails with
    :class:`~airflow_provider_monetate.exceptions.RotationQuotaError` (saying what to do by
    hand) before the limit is reached. If the store cannot be written after a token was created,
    :class:`TokenStoreWriteError` says how to recover; the token is never shown.

    The environment (CS, UAT, PROD) comes from the connection. Returns, for XCom, only
    ``action``, ``reason``, ``policy``, ``environment``, ``days_left`` and
    ``tokens_created_in_cycle``.

    :param policy: a built-in policy name (``extended``, ``accelerated``, ``combined``), a dict
        (see :func:`~airflow_provider_monetate.acquia_cdp.tokens.get_policy`) or that dict as JSON
        text (templated: with a DAG param, render it with ``render_template_as_native_obj=True``
        or ``| tojson``).
    :param acquia_cdp_conn_id: the ``acquia_cdp`` connection (templated).
    :param token_store: where the token state lives (see the base class); default: the Variable
        named by the connection's ``token_variable`` extra.
    """

    template_fields: tuple[str, ...] = ("policy", "acquia_cdp_conn_id")

    def __init__(self, *, policy: str | dict[str, Any] | RotationPolicy = "extended", **kwargs) -> None:
        super().__init__(**kwargs)
        self.policy = policy

    def resolved_policy(self) -> RotationPolicy:
        """The policy the (rendered) ``policy`` argument names."""
        spec = self.policy
        if isinstance(spec, str) and spec.strip().startswith("{"):
            try:
                spec = json.loads(spec)
            except ValueError as error:
                raise RotationPolicyError(f"policy looks like JSON but is not valid JSON: {error}") from None
        return get_policy(spec)

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        return self.rotate(time.time())

    def _adopt_connection_token(self, store: TokenStore, now: float) -> None:
        """With an empty store, start from the connection's ``token`` extra (when it still verifies)
        instead of spending a create of the cycle's quota on a first token."""
        token = self.hook.static_token
        if not token or store.read() is not None:
            return
        try:
            self.hook.verify_token(token)
        except INVALID_TOKEN_ERRORS:
            return  # dead (401 or 403): the rotation's recovery creates a new one
        store.write(TokenState.adopt(token, now))
        self.log.info("The token store was empty: adopted the valid token from the connection's 'token' extra.")

    def rotate(self, now: float) -> dict[str, Any]:
        """One rotation run at ``now``; :meth:`execute` passes the current time.

        :param now: epoch seconds (tests pass an emulator's clock).
        :return: the non-secret summary that ``execute`` returns to XCom.
        """
        policy = self.resolved_policy()
        environment = self.hook.environment
        store = self.required_store()
        self._adopt_connection_token(store, now)
        decision, state = run_rotation(policy, environment, store, HookTokenApi(self.hook), now, self.log)
        summary = {
            "action": decision.action.value,
            "reason": decision.reason,
            "policy": policy.name,
            "environment": environment,
            "days_left": _days_left(state, now),
            "tokens_created_in_cycle": state.tokens_created_in_cycle,
        }
        # A replaced missing or invalid token is news; a planned rotation is routine.
        log = self.log.warning if decision.action is RotationAction.RECOVER else self.log.info
        log(
            "Acquia CDP token rotation (policy %r, %s): %s: %s. Tokens created this cycle: %s of the policy's %s "
            "(%s allows %s); days left: %s.",
            policy.name, environment, decision.action.value, decision.reason, state.tokens_created_in_cycle,
            policy.tokens_per_cycle, environment, token_limit(environment), summary["days_left"],
        )
        return summary


class AcquiaCdpCreateTokenOperator(_TokenOperator):
    """Create a bearer token and write it to the store (manual use; prefer the rotation).

    Each create uses one of the tokens the environment allows per cycle (CS 5, UAT and PROD 3)
    and, per Acquia, invalidates earlier tokens. The creation is counted in the store first, so
    the rotation keeps an exact count; when the stored count already reaches the limit it fails
    before asking CDP. When CDP refuses the create for its limit (any 4xx that says so, see
    ``is_limit_refusal``) the store records the cycle as spent and the task fails with
    :class:`~airflow_provider_monetate.exceptions.TokenLimitReachedError`, saying to wipe first.
    Returns ``tokens_created_in_cycle`` and ``days_left``.

    :param acquia_cdp_conn_id: the ``acquia_cdp`` connection (templated).
    :param token_store: where the token state lives; default: the ``token_variable`` extra's Variable.
    """

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        store = self.required_store()
        environment = self.hook.environment
        limit = token_limit(environment)
        state = store.read() or TokenState()
        if state.tokens_created_in_cycle >= limit:
            raise RotationQuotaError(
                f"The stored state says all {limit} tokens of this cycle in {environment} are used; another "
                "create would exceed the limit. Wipe all tokens first (AcquiaCdpWipeTokensOperator), then create."
            )
        self.log.warning(
            "Creating an Acquia CDP token in %s: it uses token %s of the %s this cycle allows and, per Acquia, "
            "invalidates earlier tokens (tasks holding one get 401 until they read the store again).",
            environment, state.tokens_created_in_cycle + 1, limit,
        )
        state = state.before_create()
        store.write(state)
        now = time.time()
        try:
            created = self.hook.create_token()
        except ApiError as error:
            if not is_limit_refusal(error):
                raise
            store.write(state.after_create_refused(limit))
            raise limit_refusal_error(error) from error
        state = state.after_create(created.token, now, state.policy or "manual", created.expires_in or None)
        store.write(state)
        return {"tokens_created_in_cycle": state.tokens_created_in_cycle, "days_left": _days_left(state, now)}


class AcquiaCdpVerifyTokenOperator(_TokenOperator):
    """Verify the current token (``GET /token``); fail with a clear message when CDP rejects it (401 or 403).

    Reads the token from the store, or the connection's ``token`` extra when no store is set.
    Returns ``days_left``: the smaller of CDP's figure and the expiry the store tracks (CDP's
    ``expires_in`` may be the fixed lifetime; a token the store does not track has CDP's figure only).

    :param acquia_cdp_conn_id: the ``acquia_cdp`` connection (templated).
    :param token_store: where the token state lives; default: the ``token_variable`` extra's Variable.
    """

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        try:
            days_left = round(self.hook.verify_token().days_left, 2)
        except INVALID_TOKEN_ERRORS as error:
            self.log.error("The Acquia CDP token is invalid (%s on GET /token): it expired, was deleted or was "
                           "replaced by a newer one. Run the token rotation DAG to create a new one.", error.status)
            raise
        self.log.info("The Acquia CDP token is valid for %s more days (%s).", days_left, self.hook.environment)
        return {"days_left": days_left}


class AcquiaCdpExtendTokenOperator(_TokenOperator):
    """Extend the current token and record the extension in the store. Returns ``days_left``: with a
    store, the expiry the store now tracks (an extension counts as restarting the lifetime) or CDP's
    figure if smaller; without one, CDP's figure.

    :param acquia_cdp_conn_id: the ``acquia_cdp`` connection (templated).
    :param token_store: where the token state lives; default: the ``token_variable`` extra's Variable.
    """

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        now = time.time()
        extended = self.hook.extend_token()
        store = self.hook.token_store
        state = store.read() if store is not None else None
        days_left = round(extended.days_left, 2)
        if state is not None and state.token == extended.token:
            state = state.after_extend(now).after_verify(extended.expires_in or None, now)
            store.write(state)
            days_left = _days_left(state, now)
        self.log.info("Extended the Acquia CDP token: %s days left.", days_left)
        return {"days_left": days_left}


class AcquiaCdpDeleteTokenOperator(_TokenOperator):
    """Delete the current token and clear it from the store.

    Tasks using it get 401 until a new token is stored; the next rotation run creates one. A
    token CDP already rejects (401 or 403) has nothing left to delete: it is cleared all the same.

    :param acquia_cdp_conn_id: the ``acquia_cdp`` connection (templated).
    :param token_store: where the token state lives; default: the ``token_variable`` extra's Variable.
    """

    def execute(self, context: Mapping[str, Any]) -> None:
        self.log.warning("Deleting the Acquia CDP token: tasks using it get 401 until a new one is stored.")
        try:
            self.hook.delete_token()
        except INVALID_TOKEN_ERRORS as error:
            self.log.warning("Acquia CDP already rejects the token (%s): nothing left to delete.", error.status)
        store = self.hook.token_store
        state = store.read() if store is not None else None
        if state is not None:
            store.write(state.after_delete())


class AcquiaCdpWipeTokensOperator(_TokenOperator):
    """Wipe every token of the integration user (``DELETE /token`` with Basic): a new cycle starts.

    All tasks using a token get 401 until a new one is stored; the next rotation run creates
    one. The store records the wipe, so the rotation counts the new cycle from zero.

    :param acquia_cdp_conn_id: the ``acquia_cdp`` connection (templated).
    :param token_store: where the token state lives; default: the ``token_variable`` extra's Variable.
    """

    def execute(self, context: Mapping[str, Any]) -> None:
        environment = self.hook.environment
        self.log.warning("Wiping every Acquia CDP token of the integration user in %s: a new cycle starts.",
                         environment)
        self.hook.wipe_tokens()
        store = self.hook.token_store
        if store is not None:
            store.write((store.read() or TokenState()).after_wipe(time.time()))
