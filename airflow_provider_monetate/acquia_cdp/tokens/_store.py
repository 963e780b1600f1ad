"""Where the Acquia CDP token state lives between runs.

A store reads and writes one :class:`~airflow_provider_monetate.acquia_cdp.tokens.TokenState`.
The default keeps it as JSON in an Airflow Variable. To keep it in a secrets manager
instead (Vault, AWS Secrets Manager, ...), subclass :class:`TokenStore` and implement
``read`` and ``write`` with that manager's client; Airflow's secrets backends only read, so
the write needs the client itself. For example::

    import hvac

    class VaultTokenStore(TokenStore):
        def __init__(self, path: str) -> None:
            self.path = path

        def read(self) -> TokenState | None:
            secret = hvac.Client().secrets.kv.read_secret_version(path=self.path)
            return TokenState.from_json(secret["data"]["data"]["state"])

        def write(self, state: TokenState) -> None:
            hvac.Client().secrets.kv.create_or_update_secret(self.path, {"state": state.to_json()})

and name it where a store is configured:
``load_store({"class": "my_company.stores.VaultTokenStore", "kwargs": {"path": "cdp/prod"}})``.
Call ``mask_secret`` on the token in ``read`` so task logs never show it.
"""

from __future__ import annotations

import importlib
import json
import time
from abc import ABC, abstractmethod
from typing import Any

from airflow_provider_monetate.acquia_cdp.tokens._state import TokenState
from airflow_provider_monetate.exceptions import ConfigurationError, TokenStoreWriteError

__all__ = ["ReportingStore", "TokenStore", "VariableTokenStore", "load_store"]


class TokenStore(ABC):
    """Reads and writes the token state."""

    @abstractmethod
    def read(self) -> TokenState | None:
        """The stored state, or ``None`` when nothing is stored."""

    @abstractmethod
    def write(self, state: TokenState) -> None:
        """Replace the stored state.

        :param state: the state to keep.
        """


class VariableTokenStore(TokenStore):
    """The state as JSON in an Airflow Variable.

    A Variable that holds a bare token (not JSON) is read as that token, adopted with its
    schedule starting now (see :meth:`TokenState.adopt`); the first run writes JSON back.
    The token is registered with Airflow's secrets masker on every read and write.

    :param variable_name: the Variable's key.
    """

    def __init__(self, variable_name: str) -> None:
        self.variable_name = variable_name

    def __repr__(self) -> str:
        return f"VariableTokenStore({self.variable_name!r})"

    def read(self) -> TokenState | None:
        from airflow_provider_monetate._compat import Variable, mask_secret

        text = Variable.get(self.variable_name, None)
        if text is None or not str(text).strip():
            return None
        text = str(text).strip()
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        state = TokenState.from_json(text) if isinstance(data, dict) else TokenState.adopt(text, time.time())
        if state.token:
            mask_secret(state.token)
        return state

    def write(self, state: TokenState) -> None:
        from airflow_provider_monetate._compat import Variable, mask_secret

        if state.token:
            mask_secret(state.token)
        Variable.set(self.variable_name, state.to_json())


def load_store(spec: str | dict[str, Any] | TokenStore) -> TokenStore:
    """Resolve a store setting.

    :param spec: a Variable name (a :class:`VariableTokenStore`); a dict
        ``{"class": "dotted.path.ToStore", "kwargs": {...}}`` naming a :class:`TokenStore`
        subclass; or a store, returned as is.
    :raises ConfigurationError: for a malformed spec or a class that is not a :class:`TokenStore`.
    """
    if isinstance(spec, TokenStore):
        return spec
    if isinstance(spec, str):
        if not spec.strip():
            raise ConfigurationError("The token store Variable name is empty.")
        return VariableTokenStore(spec.strip())
    if not isinstance(spec, dict) or not isinstance(spec.get("class"), str) or set(spec) - {"class", "kwargs"}:
        # Name only the keys: a store's kwargs may hold credentials.
        got = f"a dict with keys {sorted(spec)}" if isinstance(spec, dict) else type(spec).__name__
        raise ConfigurationError(
            f'A token store is a Variable name or {{"class": "dotted.path.ToStore", "kwargs": {{...}}}}, got {got}.'
        )
    module_name, _, class_name = spec["class"].rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as error:
        raise ConfigurationError(f"Cannot import token store class {spec['class']!r}: {error}") from error
    if not (isinstance(cls, type) and issubclass(cls, TokenStore)):
        raise ConfigurationError(f"{spec['class']!r} is not a TokenStore subclass.")
    return cls(**spec.get("kwargs", {}))


class ReportingStore(TokenStore):
    """Passes reads and writes through; a failed write raises :class:`TokenStoreWriteError`
    saying how to recover, without the token and without chaining an error that may hold it.

    :param store: the real store.
    :param conn_id: the CDP connection's id, for the recovery instructions.
    :param scheme: the connection's account scheme, for the recovery instructions.
    """

    def __init__(self, store: TokenStore, conn_id: str, scheme: str) -> None:
        self.store = store
        self.conn_id = conn_id
        self.scheme = scheme
        self.stored_token: str | None = None

    def __repr__(self) -> str:
        return repr(self.store)

    def read(self) -> TokenState | None:
        state = self.store.read()
        self.stored_token = state.token if state else None
        return state

    def write(self, state: TokenState) -> None:
        try:
            self.store.write(state)
        except Exception as error:
            raise TokenStoreWriteError(self._recovery(state, error)) from None
        self.stored_token = state.token

    def _recovery(self, state: TokenState, error: Exception) -> str:
        where = (
            f"the Airflow Variable {self.store.variable_name!r}"
            if isinstance(self.store, VariableTokenStore)
            else repr(self.store)
        )
        cause = f"{type(error).__name__}: {error}"
        if state.token:
            cause = cause.replace(state.token, "***")
        text = f"Could not write the Acquia CDP token state to {where} ({cause}). "
        if state.token is None or state.token == self.stored_token:
            text += (
                "No token was created since the last successful write, so nothing was lost: "
                "fix the store and run this task again."
            )
            if state.token is None and self.stored_token is not None:
                text += " This run had already wiped the tokens: tasks get 401 until it runs again."
            return text
        scheme = self.scheme
        return text + (
            "A NEW TOKEN WAS CREATED BUT NOT STORED (it is not shown here). Creating it may have "
            "invalidated the stored token, so tasks using this connection can get 401 until you recover. "
            "Fix the store, then do one of: "
            "(1) run this task again (Airflow retries it): the creation was already counted, so it "
            "replaces the token from this cycle's remaining quota, or wipes all tokens and starts a new "
            "cycle when the quota is spent; "
            f"(2) by hand: fetch the newest token with GET /token?scheme={scheme} on the auth host of "
            f"connection {self.conn_id!r} using the integration user's Basic credentials, "
            f"and store it in {where} (in a Variable the bare token is enough: the next run adopts it); "
            f"(3) wipe all tokens of the integration user (DELETE /token?scheme={scheme} with its Basic "
            f"credentials, or AcquiaCdpWipeTokensOperator), clear {where}, and run this task again to start "
            "a new cycle."
        )
