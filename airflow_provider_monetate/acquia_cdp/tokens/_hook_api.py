"""The token calls a rotation run makes, over the Acquia CDP hook: how CDP's answers are read.

A rotation needs five calls (:class:`~airflow_provider_monetate.acquia_cdp.tokens._rotation.TokenApi`);
this adapter makes them through the hook and reads CDP's answers the rotation's way, under
every reading of the documents:

* a verify answered 401 or 403 means "this token is invalid" (a result, not an error): the
  documents say neither what a replaced token gets nor that it is always 401;
* a create refused for the token limit becomes
  :class:`~airflow_provider_monetate.exceptions.TokenLimitReachedError`, whichever way CDP
  says it (:func:`is_limit_refusal`): no document names a status or an error code;
* deleting a token that is already invalid (401 or 403) is not an error.

Takes any object with the hook's methods; no Airflow imports.
"""

from __future__ import annotations

import re
from typing import Any

from airflow_provider_monetate.acquia_cdp.tokens._decision import IssuedToken, VerifyResult
from airflow_provider_monetate.exceptions import (
    ApiAuthError,
    ApiError,
    ApiForbiddenError,
    TokenLimitReachedError,
)

__all__ = ["INVALID_TOKEN_ERRORS", "HookTokenApi", "is_limit_refusal", "limit_refusal_error"]

#: What CDP may answer a Bearer token that expired, was deleted or was replaced: 401, or 403.
INVALID_TOKEN_ERRORS = (ApiAuthError, ApiForbiddenError)

_SPEAKS_OF_A_LIMIT = re.compile(r"limit|quota|maximum|too many|exceed", re.IGNORECASE)


def is_limit_refusal(error: ApiError) -> bool:
    """Whether CDP's answer to a create reads as "the token limit is reached".

    Any 4xx but 401 (the integration user's credentials) whose status (429) or body speaks of a
    limit or quota. A 429 that was plain throttling reads the same; the rotation then keeps the
    current token rather than create, which is safe.

    :param error: the error the hook raised for ``POST /token?action=create``.
    """
    status = error.status
    if status is None or not 400 <= status < 500 or status == 401:
        return False
    return status == 429 or any(_SPEAKS_OF_A_LIMIT.search(message) for message in error.messages)


def limit_refusal_error(error: ApiError) -> TokenLimitReachedError:
    """The :class:`TokenLimitReachedError` for a refused create, saying what was seen and what to do."""
    said = "; ".join(error.messages) or "no message"
    return TokenLimitReachedError(
        f"Acquia CDP refused to create a token ({error.status}: {said}), which reads as the environment's token "
        "limit for this cycle being reached. Wipe all tokens of the integration user (AcquiaCdpWipeTokensOperator "
        "or DELETE /token with its Basic credentials) to start a new cycle; the rotation does this itself when its "
        "cycle ends."
    )


class HookTokenApi:
    """The :class:`~airflow_provider_monetate.acquia_cdp.tokens._rotation.TokenApi` calls over an ``AcquiaCdpHook``.

    :param hook: the hook that talks to CDP (``verify_token``, ``create_token``, ``extend_token``,
        ``delete_token``, ``wipe_tokens`` and a ``log``).
    """

    def __init__(self, hook: Any) -> None:
        self.hook = hook

    def verify(self, token: str) -> VerifyResult:
        """Verify a token; a 401 or 403 means it is invalid, which is a result, not an error.

        ``expires_in`` is what CDP reported (``None`` when it gave none); the rotation combines it
        with the expiry it tracks itself.
        """
        try:
            result = self.hook.verify_token(token)
        except INVALID_TOKEN_ERRORS as error:
            self.hook.log.warning(
                "Acquia CDP rejected the token (%s on GET /token): it expired, was deleted or was replaced by a "
                "newer one.",
                error.status,
            )
            return VerifyResult(valid=False)
        # The hook reports a missing expires_in as 0; None tells the rotation CDP did not say.
        return VerifyResult(valid=True, expires_in=result.expires_in or None)

    def create(self) -> IssuedToken:
        """Create a token; a refusal for the limit (:func:`is_limit_refusal`) raises :class:`TokenLimitReachedError`."""
        try:
            created = self.hook.create_token()
        except ApiError as error:
            if is_limit_refusal(error):
                raise limit_refusal_error(error) from error
            raise
        return IssuedToken(created.token, created.expires_in or None)

    def extend(self, token: str) -> None:
        """Extend a token."""
        self.hook.extend_token(token)

    def delete(self, token: str) -> None:
        """Delete a token; one that is already invalid (401 or 403) has nothing left to delete."""
        try:
            self.hook.delete_token(token)
        except INVALID_TOKEN_ERRORS:
            return

    def wipe(self) -> None:
        """Wipe every token of the integration user."""
        self.hook.wipe_tokens()
