"""Where the Acquia CDP token state lives between runs.

A store reads and writes one :class:`~airflow_provider_monetate.token_rotation.TokenState`.
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

from airflow_provider_monetate.token_rotation import TokenState


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
        from airflow_provider_monetate.compat import Variable, mask_secret

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
        from airflow_provider_monetate.compat import Variable, mask_secret

        if state.token:
            mask_secret(state.token)
        Variable.set(self.variable_name, state.to_json())


class InMemoryTokenStore(TokenStore):
    """The state as JSON in memory, for tests; it goes through the same serialization.

    :param state: the initial state, if any.
    """

    def __init__(self, state: TokenState | None = None) -> None:
        self.text = state.to_json() if state is not None else None

    def __repr__(self) -> str:
        return "InMemoryTokenStore()"

    def read(self) -> TokenState | None:
        return TokenState.from_json(self.text) if self.text is not None else None

    def write(self, state: TokenState) -> None:
        self.text = state.to_json()


def load_store(spec: str | dict[str, Any] | TokenStore) -> TokenStore:
    """Resolve a store setting.

    :param spec: a Variable name (a :class:`VariableTokenStore`); a dict
        ``{"class": "dotted.path.ToStore", "kwargs": {...}}`` naming a :class:`TokenStore`
        subclass; or a store, returned as is.
    :raises ValueError: for a malformed spec or a class that is not a :class:`TokenStore`.
    """
    if isinstance(spec, TokenStore):
        return spec
    if isinstance(spec, str):
        if not spec.strip():
            raise ValueError("The token store Variable name is empty.")
        return VariableTokenStore(spec.strip())
    if not isinstance(spec, dict) or not isinstance(spec.get("class"), str) or set(spec) - {"class", "kwargs"}:
        # Name only the keys: a store's kwargs may hold credentials.
        got = f"a dict with keys {sorted(spec)}" if isinstance(spec, dict) else type(spec).__name__
        raise ValueError(
            f'A token store is a Variable name or {{"class": "dotted.path.ToStore", "kwargs": {{...}}}}, got {got}.'
        )
    module_name, _, class_name = spec["class"].rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as error:
        raise ValueError(f"Cannot import token store class {spec['class']!r}: {error}") from error
    if not (isinstance(cls, type) and issubclass(cls, TokenStore)):
        raise ValueError(f"{spec['class']!r} is not a TokenStore subclass.")
    return cls(**spec.get("kwargs", {}))
