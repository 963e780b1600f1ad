"""The small family of errors the provider raises.

Each API error carries the HTTP status, the method and path (never the query string, never a
header) and the messages the API returned, so a failed task says what went wrong without
leaking a credential.
"""

from __future__ import annotations


class MonetateProviderError(Exception):
    """Base class of every error raised by airflow-provider-monetate."""


class ConfigurationError(MonetateProviderError):
    """The connection or the task arguments are wrong; nothing was sent."""


class PrivateKeyError(ConfigurationError):
    """The Monetate private key cannot be used to sign a JWT; nothing was sent."""


class ApiError(MonetateProviderError):
    """An API answered with an error status.

    :param service: ``Monetate`` or ``Acquia CDP``.
    :param method: HTTP method of the failed call.
    :param path: URL path of the failed call, without the query string.
    :param status: HTTP status code, or ``None`` when no response arrived.
    :param messages: error messages taken from the response body.
    :param hint: what the user should do about it.
    """

    def __init__(
        self,
        service: str,
        method: str,
        path: str,
        status: int | None,
        messages: list[str] | None = None,
        hint: str = "",
    ) -> None:
        self.service = service
        self.method = method
        self.path = path
        self.status = status
        self.messages = messages or []
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        status = self.status if self.status is not None else "no response"
        text = f"{self.service} {self.method} {self.path} -> {status}"
        if self.messages:
            text += ": " + "; ".join(self.messages)
        if self.hint:
            text += f". {self.hint}"
        return text


class ApiValidationError(ApiError):
    """400, 415 or 422: the request was rejected as invalid; retrying cannot help."""


class ApiAuthError(ApiError):
    """401 even after obtaining a fresh credential once."""


class ApiForbiddenError(ApiError):
    """403: the credential was revoked or lacks permission; a human must act."""


class ApiNotFoundError(ApiError):
    """404: the dataset, tenant or account does not exist."""


class ApiUnavailableError(ApiError):
    """Throttling, server errors or network failures outlasted the retry budget.

    :param attempts: how many times the call was sent.
    :param in_doubt: ``True`` when the last attempt may have been processed by the server
        (a timeout or dropped connection after the request was sent).
    """

    def __init__(self, *args, attempts: int = 0, in_doubt: bool = False, **kwargs) -> None:
        self.attempts = attempts
        self.in_doubt = in_doubt
        super().__init__(*args, **kwargs)
