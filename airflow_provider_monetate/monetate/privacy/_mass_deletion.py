"""The guard against mass deletion: a wrong upstream query must not erase a customer base.

A deletion or erasure run may name at most a *limit* of customers unless the task says
``confirm_mass_deletion=True``. The limit is ``mass_deletion_threshold`` (default 10,000) and,
when the size of the customer base is known, also 5% of it: whichever is smaller. The provider
cannot see a customer base by itself, so that number comes from the task's
``last_load_customers``: typically the ``rows_sent`` of the last full load of customers, pulled
from that load task's XCom (``MonetatePostRecordsOperator`` and ``AcquiaCdpIngestOperator``
return it, and put it on their outlet asset events). An incremental load sends only the changed
customers: give the count of a full load, or none (the threshold alone then applies).

The check runs once every ID is read and checked, before anything is sent; a dry run only warns.
No Airflow imports.
"""

from __future__ import annotations

import math
from typing import Any

from airflow_provider_monetate.exceptions import ConfigurationError, MassDeletionError

__all__ = ["DEFAULT_SHARE", "DEFAULT_THRESHOLD", "check_mass_deletion", "customer_base", "mass_deletion_limit"]

DEFAULT_THRESHOLD = 10_000
#: The share of the last load's customers above which a run is a mass deletion.
DEFAULT_SHARE = 0.05


def customer_base(value: Any) -> int | None:
    """``last_load_customers`` as a count: an int, its text (from a template), or nothing (unknown).

    :raises ConfigurationError: anything else (a negative number, a non-number).
    """
    if value is None or (isinstance(value, str) and value.strip() in ("", "None")):
        return None
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str) and text.isdigit():
        return int(text)
    if isinstance(text, int) and not isinstance(text, bool) and text >= 0:
        return text
    raise ConfigurationError(f"last_load_customers must be a count of customers (e.g. the rows_sent of the last "
                             f"full load), got {type(value).__name__} {value!r}")


def mass_deletion_limit(threshold: int = DEFAULT_THRESHOLD, last_load_customers: int | None = None,
                        share: float = DEFAULT_SHARE) -> tuple[int, str]:
    """The most customers one run may erase unconfirmed, and where that number comes from.

    :raises ConfigurationError: a threshold below 1.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise ConfigurationError(f"mass_deletion_threshold must be a positive number of customers, got {threshold!r}")
    limits = [(threshold, f"mass_deletion_threshold={threshold}")]
    if last_load_customers:
        limits.append((math.floor(share * last_load_customers),
                       f"{share:.0%} of the {last_load_customers} customers of the last load (last_load_customers)"))
    return min(limits)


def check_mass_deletion(count: int, *, what: str, threshold: int = DEFAULT_THRESHOLD,
                        last_load_customers: Any = None, confirmed: bool = False, dry_run: bool = False) -> str | None:
    """Refuse a run of ``count`` customers above the limit unless ``confirmed``.

    :param what: names the task and the system in the message (``erase_cdp: Acquia CDP erasure``).
    :return: a warning to log when the run is above the limit but confirmed (or a dry run), else ``None``.
    :raises MassDeletionError: above the limit, not confirmed, not a dry run; nothing was sent.
    """
    limit, source = mass_deletion_limit(threshold, customer_base(last_load_customers))
    if count <= limit:
        return None
    text = f"{what} names {count} customers, more than {limit} ({source})"
    if confirmed:
        return f"{text}; going ahead: confirm_mass_deletion=True."
    if dry_run:
        return f"{text}: a run that sends would be refused without confirm_mass_deletion=True."
    raise MassDeletionError(
        f"{text}; nothing was sent. A wrong upstream query must not erase a customer base: check the input (its "
        "query, its file). If these erasures are meant, pass confirm_mass_deletion=True, or raise "
        "mass_deletion_threshold for this task."
    )
