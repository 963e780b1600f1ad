"""Every error the provider raises: one tree under :class:`MonetateProviderError`.

``except MonetateProviderError`` catches anything the provider raised on purpose. Where
callers of a function reasonably expect a built-in kind (a bad argument is a ``ValueError``,
a bad location a ``TypeError``, a missing optional package an ``ImportError``), the error
derives from that kind too. No error message holds a credential or a customer's value.

::

    MonetateProviderError
    ├── ConfigurationError (ValueError)      the connection or the task's arguments; nothing was sent
    │   ├── PrivateKeyError                  the Monetate private key cannot sign
    │   ├── MissingSourceSystemIdError       CDP records would be filed under KFK_0
    │   ├── RotationPolicyError              a CDP token rotation policy that cannot work
    │   ├── LocationError (TypeError)        neither a local path nor an object storage path
    │   ├── ReceiptError                     a deletion receipt that does not prove what was submitted
    │   ├── MassDeletionError                more IDs to erase than the guard allows, unconfirmed
    │   └── MissingDependencyError (ImportError)   an optional package is not installed
    ├── InputError (ValueError)              the records themselves; nothing was sent
    │   ├── RecordSourceError                a record cannot be read (names source and row)
    │   ├── RowTooLargeError                 one row does not fit in a request
    │   ├── TooManyRejectedRowsError         more bad rows than max_rejected_rows allows
    │   ├── DuplicateKeyError                rows share a unique key and on_duplicate_key="fail"
    │   ├── EmptyInputError                  the input holds no rows and allow_empty=False
    │   ├── InputShrankError                 far fewer rows than the last incremental sync holds
    │   └── InvalidValueError (TypeError)    a value is not what its field takes
    ├── StateFileError (ValueError)          a file the provider wrote cannot be read back
    │   └── CheckpointError                  a load checkpoint
    ├── BatchesInDoubtError                  a previous try's batches may have arrived; a human decides
    ├── SnapshotConflictError                another run of the same incremental sync wrote its state first
    ├── DatasetConflictError                 a Monetate dataset exists with other fields
    ├── RotationQuotaError                   no CDP token left in this cycle
    ├── TokenLimitReachedError               CDP refused a token create for its limit
    ├── TokenStoreWriteError                 the CDP token state could not be stored
    ├── ErasureLimitError                    CDP's weekly erasure limit would be passed; nothing was sent
    ├── ErasureOverdueError                  erasure requests are past their legal due date
    ├── UnexpectedResponseError              a success answer the provider cannot read
    └── ApiError                             an error status, or no answer (see the table)
        ├── ApiValidationError
        ├── ApiAuthError
        ├── ApiForbiddenError
        ├── ApiNotFoundError
        └── ApiUnavailableError

Which answer becomes which :class:`ApiError` (the table ``http`` applies; a test holds
the two together):

=====================================  ======================  ==================================
Answer                                 Error                   When
=====================================  ======================  ==================================
400, 409, 413, 415, 422                ApiValidationError      at once, never retried
401                                    ApiAuthError            after one renewed credential
403                                    ApiForbiddenError       at once
404                                    ApiNotFoundError        at once
429, 503                               ApiUnavailableError     after the retry budget
500, 502, 504, timeouts, dropped       ApiUnavailableError     after the retry budget, or at once
                                                               when a repeat is not harmless
any other error status                 ApiError                at once
=====================================  ======================  ==================================
"""

from __future__ import annotations

__all__ = [
    "ApiAuthError",
    "ApiError",
    "ApiForbiddenError",
    "ApiNotFoundError",
    "ApiUnavailableError",
    "ApiValidationError",
    "BatchesInDoubtError",
    "CheckpointError",
    "ConfigurationError",
    "DatasetConflictError",
    "DuplicateKeyError",
    "EmptyInputError",
    "ErasureLimitError",
    "ErasureOverdueError",
    "InputError",
    "InputShrankError",
    "InvalidValueError",
    "LocationError",
    "MassDeletionError",
    "MissingDependencyError",
    "MissingSourceSystemIdError",
    "MonetateProviderError",
    "PrivateKeyError",
    "ReceiptError",
    "RecordSourceError",
    "RotationPolicyError",
    "RotationQuotaError",
    "RowTooLargeError",
    "SnapshotConflictError",
    "StateFileError",
    "TokenLimitReachedError",
    "TokenStoreWriteError",
    "TooManyRejectedRowsError",
    "UnexpectedResponseError",
]


class MonetateProviderError(Exception):
    """Base class of every error raised by airflow-provider-monetate."""


# -- before anything is sent ------------------------------------------------------------------


class ConfigurationError(MonetateProviderError, ValueError):
    """The connection or the task arguments are wrong; nothing was sent."""


class PrivateKeyError(ConfigurationError):
    """The Monetate private key cannot be used to sign a JWT; nothing was sent."""


class MissingSourceSystemIdError(ConfigurationError):
    """Records without ``SourceSystemID`` and no default to fill in; nothing was sent."""


class RotationPolicyError(ConfigurationError):
    """A CDP token rotation policy that is malformed or does not fit the environment's limit."""


class LocationError(ConfigurationError, TypeError):
    """A location that is neither a local path nor an object storage path."""


class MissingDependencyError(ConfigurationError, ImportError):
    """An optional package the call needs is not installed; the message names the extra."""


class ReceiptError(ConfigurationError):
    """A deletion receipt that does not prove what was submitted (a dry run, no IDs file, or an
    IDs file that does not match it); the sensor asked Monetate nothing."""


class MassDeletionError(ConfigurationError):
    """A deletion or erasure run names more customers than the mass-deletion guard allows (a wrong
    upstream query must not erase a customer base) and ``confirm_mass_deletion`` is not set; nothing
    was sent."""


class InputError(MonetateProviderError, ValueError):
    """The input records cannot be sent as they are; nothing was sent."""


class RecordSourceError(InputError):
    """A record that cannot be read.

    The message names the source and the row but never includes the record's content,
    which may be customer data.

    :param message: what is wrong.
    :param source: human description of the source (``RecordSource.describe()``).
    :param row_number: 1-based row the problem is in, or None if it is not about one row.
    """

    def __init__(self, message: str, *, source: str, row_number: int | None = None) -> None:
        where = source if row_number is None else f"{source}, row {row_number}"
        super().__init__(f"{where}: {message}")
        self.source = source
        self.row_number = row_number


class RowTooLargeError(InputError):
    """A single row that does not fit in a request on its own.

    :param row_number: the row's number.
    :param nbytes: its encoded size plus the envelope overhead.
    :param max_bytes: the request size limit.
    """

    def __init__(self, row_number: int, nbytes: int, max_bytes: int) -> None:
        super().__init__(
            f"row {row_number} is {nbytes} bytes encoded (with the request envelope), "
            f"more than the {max_bytes}-byte request limit"
        )
        self.row_number = row_number
        self.nbytes = nbytes


class TooManyRejectedRowsError(InputError):
    """More rows were rejected than ``max_rejected_rows`` allows; nothing was sent."""


class DuplicateKeyError(InputError):
    """Rows of one input share a unique key and ``on_duplicate_key="fail"``; nothing was sent."""


class EmptyInputError(InputError):
    """The input holds no rows and ``allow_empty=False``; nothing was sent."""


class InputShrankError(InputError):
    """An incremental sync's input holds far fewer keys than its snapshot (a broken upstream query is
    the usual cause) and ``allow_shrink`` is not set; nothing was sent."""


class InvalidValueError(InputError, TypeError):
    """A value that is not what its field takes; the message describes it by type or pattern only."""


# -- state the provider keeps -------------------------------------------------------------------


class StateFileError(MonetateProviderError, ValueError):
    """A state file the provider wrote exists but cannot be read back."""


class CheckpointError(StateFileError):
    """A load checkpoint that exists but cannot be used; deleting it starts the load over."""


# -- during and after sending -------------------------------------------------------------------


class BatchesInDoubtError(MonetateProviderError):
    """A previous try sent batches without an acknowledgement, and resending them could
    duplicate rows; a human must decide."""


class SnapshotConflictError(MonetateProviderError):
    """Another run of the same incremental sync wrote the snapshot after this run read it; this run's
    rows were sent, its snapshot was not written, and the next run sends what still differs."""


class DatasetConflictError(MonetateProviderError):
    """The Monetate dataset exists with a field or type that differs from the requested definition."""


class RotationQuotaError(MonetateProviderError):
    """The CDP token must be replaced, but the cycle has no token left and is not over yet."""


class TokenLimitReachedError(MonetateProviderError):
    """Acquia CDP refused to create a token because the environment's limit is reached."""


class TokenStoreWriteError(MonetateProviderError):
    """The CDP token state could not be written to the store; the message says how to recover."""


class ErasureLimitError(MonetateProviderError):
    """Acquia CDP's weekly data erasure limit would be passed (or CDP refused a call for it); the
    message says how many customers fit and when room frees up."""


class ErasureOverdueError(MonetateProviderError):
    """Erasure requests are past their legal due date and still open; the message names them and the
    systems still open."""


class UnexpectedResponseError(MonetateProviderError):
    """An API answered with success but with a body the provider cannot read."""


class ApiError(MonetateProviderError):
    """An API answered with an error status, or did not answer.

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
    """400, 409, 413, 415 or 422: the request was rejected as invalid; retrying cannot help."""


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
    :param failure: the HTTP library's error class name when the last attempt got no answer
        (``ReadTimeout``, ``ConnectError``, ...). The library's exception itself is not chained:
        its text holds the full URL, query string included, where a customer ID can sit.
    """

    def __init__(self, *args, attempts: int = 0, in_doubt: bool = False, failure: str | None = None,
                 **kwargs) -> None:
        self.attempts = attempts
        self.in_doubt = in_doubt
        self.failure = failure
        super().__init__(*args, **kwargs)
