"""The token calls a rotation run makes, over the Acquia CDP hook: how CDP's answers are read.

A rotation needs five calls (:class:`~airflow_provider_monetate.acquia_cdp.tokens._rotation.TokenApi`);
this adapter makes them through the hook and reads CDP's answers the rotation's way: a 401 on
verify means "this token is invalid" (a result, not an error), a refused create becomes
:class:`~airflow_provider_monetate.exceptions.TokenLimitReachedError`, and deleting a token that
is already invalid is not an error. Takes any object with the hook's methods; no Airflow imports.
"""

from __future__ import annotations

import contextlib
from typing import Any

from airflow_provider_monetate.acquia_cdp.tokens._decision import VerifyResult
from airflow_provider_monetate.exceptions import ApiAuthError, ApiValidationError, TokenLimitReachedError

__all__ = ["HookTokenApi"]


class HookTokenApi:
    """The :class:`~airflow_provider_monetate.acquia_cdp.tokens._rotation.TokenApi` calls over an ``AcquiaCdpHook``.

    :param hook: the hook that talks to CDP (``verify_token``, ``create_token``, ``extend_token``,
        ``delete_token``, ``wipe_tokens`` and a ``log``).
    """

    def __init__(self, hook: Any) -> None:
        self.hook = hook

    def verify(self, token: str) -> VerifyResult:
        """Verify a token; a 401 means it is invalid, which is a result, not an error."""
        try:
            result = self.hook.verify_token(token)
        except ApiAuthError:
            self.hook.log.warning(
                "Acquia CDP rejected the token (401 on GET /token): it expired, was deleted or was "
                "replaced by a newer one."
            )
            return VerifyResult(valid=False)
        # The hook reports a missing expires_in as 0; None tells the rotation CDP did not say.
        return VerifyResult(valid=True, expires_in=result.expires_in or None)

    def create(self) -> str:
        """Create a token; CDP's ``TOKEN_LIMIT_EXCEEDED`` becomes :class:`TokenLimitReachedError`."""
        try:
            return self.hook.create_token().token
        except ApiValidationError as error:
            if any("TOKEN_LIMIT_EXCEEDED" in message for message in error.messages):
                raise TokenLimitReachedError(str(error)) from error
            raise

    def extend(self, token: str) -> None:
        """Extend a token."""
        self.hook.extend_token(token)

    def delete(self, token: str) -> None:
        """Delete a token; one that is already invalid (401) has nothing left to delete."""
        with contextlib.suppress(ApiAuthError):
            self.hook.delete_token(token)

    def wipe(self) -> None:
        """Wipe every token of the integration user."""
        self.hook.wipe_tokens()
