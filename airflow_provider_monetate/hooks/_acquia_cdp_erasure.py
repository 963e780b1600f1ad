"""The Acquia CDP hook's data erasure calls: a login session, the erasure call, the logout.

:class:`ErasureCalls` is a base of :class:`~airflow_provider_monetate.hooks.acquia_cdp.AcquiaCdpHook`
(kept apart so the hook module stays readable); it uses the hook's connection, sessions and
secret masking. The erasure API takes only a session token from ``/authentication?action=login``
(Basic), never the bearer token the tracker takes; what to send and how to read the answer is
``acquia_cdp._erasure``'s.
"""

from __future__ import annotations

from airflow_provider_monetate.acquia_cdp._erasure import ERASED_COLLECTION
from airflow_provider_monetate.exceptions import UnexpectedResponseError
from airflow_provider_monetate.http import Credential, ErrorHints, json_or_empty

__all__ = ["ErasureCalls"]


class ErasureCalls:
    """``login_session``, ``logout_session`` and ``erase_customers`` of the Acquia CDP hook."""

    def _session_call(self, action: str, authorization: str) -> dict:
        response = self.auth_api.request(  # type: ignore[attr-defined]
            "POST", "/authentication", params={"action": action}, authorization=authorization, json={})
        return json_or_empty(response)

    def login_session(self) -> str:
        """A session token from ``POST /authentication?action=login`` with the integration user (Basic).

        :raises UnexpectedResponseError: the answer has no ``access_token``.
        """
        token = self._session_call("login", self._basic()).get("access_token")  # type: ignore[attr-defined]
        if not token:
            raise UnexpectedResponseError("Acquia CDP's login answer (/authentication?action=login) had no "
                                          "access_token.")
        self.hold(token)  # type: ignore[attr-defined]
        return token

    def logout_session(self, token: str) -> None:
        """End a session token (``POST /authentication?action=logout`` with it as Bearer), as Acquia asks
        after erasing."""
        self._session_call("logout", self._bearer(token))  # type: ignore[attr-defined]

    def erase_customers(self, body: dict, *, session: Credential, fail_on_not_found: bool = False) -> dict:
        """``POST /v2/{tenant}/dw/dataerasure?failOnNotFound=``: ask CDP to erase up to 200 customers.

        :param body: ``acquia_cdp._erasure.erasure_body``'s.
        :param session: the credential: ``acquia_cdp._erasure.SessionToken`` (logs in at the first call,
            again after a 401).
        :param fail_on_not_found: ask CDP to refuse the whole call when an ID is unknown.
        :return: the answer's lists and ``eventId``.
        """
        hints = ErrorHints(
            unauthorized="Acquia CDP refused a fresh login session token for the data erasure API: check the "
                         "integration user (login/password) and its permission to erase",
            forbidden="Acquia CDP refused data erasure for this tenant: check tenant_id and the integration user's "
                      "permissions. Retrying will not help",
            not_found=f"Not found: check the API host and tenant_id of connection "
                      f"{self.acquia_cdp_conn_id!r}",  # type: ignore[attr-defined]
        )
        api = self.session("Acquia CDP", self.settings.host, session, hints)  # type: ignore[attr-defined]
        try:
            response = api.request("POST", f"/v2/{self.tenant_id}/dw/dataerasure",  # type: ignore[attr-defined]
                                   params={"failOnNotFound": "true" if fail_on_not_found else "false"}, json=body)
            self.report_output(self.entity_dataset(ERASED_COLLECTION))  # type: ignore[attr-defined]
            return json_or_empty(response)
        finally:
            api.close()
