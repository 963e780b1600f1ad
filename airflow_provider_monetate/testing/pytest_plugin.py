"""pytest fixtures for testing DAGs and hooks against the emulator.

Registered through the ``pytest11`` entry point, so installing the provider is enough:

* ``monetate_emulator`` (session): a running emulator with a Monetate API user
  ``api-test-user`` (shortname ``testshop``, RSA key generated once per session) and a
  CDP integration user (environment ``CS``, tenant ``1234``).
* ``emulator`` (function): the same handle, reset first (data, tokens, faults, counters,
  log, clock and configuration), with the standard users re-registered.

Nothing is imported or started unless a test asks for one of these fixtures.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_provider_monetate.testing.server import Emulator

__all__ = ["EmulatorHandle", "emulator", "monetate_emulator"]

MONETATE_USERNAME = "api-test-user"
MONETATE_SHORTNAME = "testshop"
CDP_LOGIN = "test-integration"
CDP_ENVIRONMENT = "CS"
CDP_TENANT_ID = "1234"


class EmulatorHandle:
    """A running emulator plus the credentials registered in it.

    Unknown attributes are delegated to the :class:`Emulator` (``clock``, ``inject``,
    ``counters``, ``monetate_rows``, ...).

    :param emulator: the running emulator.
    :param key_dir: where to write the private key file.
    """

    monetate_username = MONETATE_USERNAME
    shortname = MONETATE_SHORTNAME
    cdp_environment = CDP_ENVIRONMENT
    cdp_tenant_id = CDP_TENANT_ID

    def __init__(self, emulator: Emulator, key_dir: Path) -> None:
        from airflow_provider_monetate.testing.keys import generate_key_pair

        self.emulator = emulator
        keys = generate_key_pair()
        self.private_key_pem: str = keys.private_key_pem
        self.public_key_pem: str = keys.public_key_pem
        self.private_key_path = key_dir / f"{MONETATE_USERNAME}.pem"
        self.private_key_path.write_text(self.private_key_pem)
        self.private_key_path.chmod(0o600)
        self.cdp_login = CDP_LOGIN
        self.cdp_password = secrets.token_urlsafe(12)
        self.register_users()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.emulator, name)

    @property
    def url(self) -> str:
        """The emulator base URL."""
        return self.emulator.url

    def register_users(self) -> None:
        """(Re-)register the standard Monetate and CDP users."""
        self.emulator.add_monetate_user(MONETATE_USERNAME, self.public_key_pem, MONETATE_SHORTNAME)
        self.emulator.add_cdp_user(self.cdp_login, self.cdp_password, CDP_ENVIRONMENT, CDP_TENANT_ID)

    def reset(self) -> None:
        """Back to the fixture's initial state: :meth:`Emulator.reset` with ``users=True``,
        then the standard users are registered again (same keys)."""
        self.emulator.reset(users=True)
        self.register_users()

    def create_cdp_user(
        self, environment: str = "UAT", tenant_id: str = CDP_TENANT_ID, login: str | None = None
    ) -> tuple[str, str]:
        """Create another CDP integration user (e.g. in UAT or PROD).

        :return: ``(login, password)``.
        """
        login = login or f"user-{environment.lower()}-{secrets.token_hex(3)}"
        password = secrets.token_urlsafe(12)
        self.emulator.add_cdp_user(login, password, environment, tenant_id)
        return login, password

    def issue_cdp_token(self, login: str | None = None) -> str:
        """A fresh CDP token for ``login`` (default: the standard user); counts toward its limit."""
        return self.emulator.issue_cdp_token(login or self.cdp_login)

    def monetate_conn_json(self, use_key_path: bool = False) -> str:
        """``monetate`` connection JSON; the PEM goes in ``password`` (or ``extra.private_key_path``)."""
        from airflow_provider_monetate.testing.connections import monetate_connection, to_json

        if use_key_path:
            conn = monetate_connection(
                self.url, MONETATE_USERNAME, MONETATE_SHORTNAME, private_key_path=str(self.private_key_path)
            )
        else:
            conn = monetate_connection(self.url, MONETATE_USERNAME, MONETATE_SHORTNAME, self.private_key_pem)
        return to_json(conn)

    def cdp_conn_json(self, token: str | None = None, source_system_id: str = "test") -> str:
        """``acquia_cdp`` connection JSON for the standard CDP user (optionally with a token)."""
        from airflow_provider_monetate.testing.connections import cdp_connection, to_json

        conn = cdp_connection(
            self.url, self.cdp_login, self.cdp_password, CDP_TENANT_ID, CDP_ENVIRONMENT, token, source_system_id
        )
        return to_json(conn)

    def conn_env(self, token: str | None = None) -> dict[str, str]:
        """``AIRFLOW_CONN_MONETATE_DEFAULT`` / ``AIRFLOW_CONN_ACQUIA_CDP_DEFAULT`` values (for monkeypatch.setenv)."""
        return {
            "AIRFLOW_CONN_MONETATE_DEFAULT": self.monetate_conn_json(),
            "AIRFLOW_CONN_ACQUIA_CDP_DEFAULT": self.cdp_conn_json(token=token),
        }


@pytest.fixture(scope="session")
def monetate_emulator(tmp_path_factory: pytest.TempPathFactory):
    """A running emulator for the whole session (state is NOT reset; use ``emulator``)."""
    from airflow_provider_monetate.testing.server import Emulator

    emulator = Emulator(port=0).start()
    try:
        yield EmulatorHandle(emulator, tmp_path_factory.mktemp("monetate-emulator"))
    finally:
        emulator.stop()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "emulator_readings(chosen): readings of open points for the emulator fixture, e.g. "
        '@pytest.mark.emulator_readings({"cdp.expires_in": "countdown"})',
    )


@pytest.fixture
def emulator(monetate_emulator: EmulatorHandle, request: pytest.FixtureRequest) -> EmulatorHandle:
    """The session emulator, reset for this test, with the readings the ``emulator_readings`` marker asks."""
    monetate_emulator.reset()
    for marker in reversed(list(request.node.iter_markers("emulator_readings"))):  # closest marker wins
        monetate_emulator.set_readings(marker.args[0])
    return monetate_emulator
