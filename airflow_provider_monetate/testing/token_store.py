"""An Acquia CDP token store held in memory, for testing DAGs that rotate or read CDP tokens.

It goes through the same JSON serialization as a real store, so a test sees what a
``VariableTokenStore`` would keep::

    from airflow_provider_monetate.testing import InMemoryTokenStore

    store = InMemoryTokenStore()
    AcquiaCdpRotateTokenOperator(task_id="rotate", token_store=store).rotate(now)
    assert store.read().tokens_created_in_cycle == 1
"""

from __future__ import annotations

from airflow_provider_monetate.acquia_cdp.tokens import TokenState, TokenStore

__all__ = ["InMemoryTokenStore"]


class InMemoryTokenStore(TokenStore):
    """The state as JSON in memory; it goes through the same serialization as a real store.

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
