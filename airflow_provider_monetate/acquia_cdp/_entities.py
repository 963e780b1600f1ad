"""Acquia CDP entity vocabulary: collection keys, entity names, upsert keys, and the shared attributes.

The tracker takes ``{"customers": [...], "transactionItems": [...], "PetInfo": [...]}``: a
collection key names an entity (``customers`` -> ``Customer``), and keyed entities upsert by
``Source{Entity}Number``. Every record carries ``SourceSystemID``; without one CDP files it
under ``KFK_0``. No Airflow imports.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "DEFAULT_SOURCE_SYSTEM_ID",
    "DELETE_FLAG",
    "KEYLESS_ENTITIES",
    "KFK0_HAZARD",
    "SOURCE_SYSTEM_ID",
    "STANDARD_COLLECTIONS",
    "collection_misspelling",
    "entity_name",
    "identifier_problem",
    "is_identifier",
    "key_field",
]

SOURCE_SYSTEM_ID = "SourceSystemID"
DELETE_FLAG = "DeleteFlag"
DEFAULT_SOURCE_SYSTEM_ID = "KFK_0"  # what CDP files a record under when SourceSystemID is missing
#: Why a missing SourceSystemID stops a load (the seed's warning), in every message that says so.
KFK0_HAZARD = (
    "CDP files a record without a SourceSystemID under its default source KFK_0, mixing it with every "
    "other source that forgets its ID and risking accidental removals of customers"
)
KEYLESS_ENTITIES = frozenset({"Event"})
#: The collection keys of the standard entities, as Acquia's payload definition spells them
#: (``customers``, ``transactions``, ``transactionItems``, ``events``), and the address entities
#: a customer's soft delete carries under their entity names.
STANDARD_COLLECTIONS = ("customers", "transactions", "transactionItems", "events", "Address", "CustomerAddressXref")
_IDENTIFIER = re.compile(r"Source\w+Number")


# The emulator (testing/acquia_cdp/payload.py) writes this rule again on purpose: it checks the
# documents, not our reading of them, so a mistake here cannot hide in both.
def entity_name(collection: str) -> str:
    """The entity behind a collection key: first letter upper-cased, one plural ``s`` removed.

    ``customers`` -> ``Customer``, ``transactionItems`` -> ``TransactionItem``,
    ``Address`` -> ``Address`` (``ss`` is not a plural), ``PetInfo`` -> ``PetInfo``.
    """
    name = collection[:1].upper() + collection[1:]
    if name.endswith("s") and not name.endswith("ss"):
        name = name[:-1]
    return name


def key_field(entity: str) -> str | None:
    """The upsert key ``Source{Entity}Number``, or ``None`` for events (they have no key)."""
    return None if entity in KEYLESS_ENTITIES else f"Source{entity}Number"


def _folded(collection: str) -> str:
    """A collection name without case or plural: ``Customers`` -> ``customer``, ``addresses`` -> ``address``."""
    name = collection.lower()
    if name.endswith("sses"):
        return name[:-2]
    return name[:-1] if name.endswith("s") and not name.endswith("ss") else name


_STANDARD_BY_FOLDED = {_folded(c): c for c in STANDARD_COLLECTIONS}


def collection_misspelling(collection: str) -> str | None:
    """The standard collection key a name differs from only in case or plural, else ``None``.

    ``customer``, ``Customers`` -> ``customers``; ``event`` -> ``events``; ``addresses`` ->
    ``Address``. A standard key spelled exactly, or any other name (a custom entity, used as
    given), gives ``None``.

    Such a name is refused rather than taken for a custom entity: the tracker maps collection
    keys to the tenant's entities exactly and case-sensitively, so ``Customers`` would not load
    customers, and a custom entity named like a standard one would be indistinguishable from a typo.
    """
    expected = _STANDARD_BY_FOLDED.get(_folded(collection))
    return None if expected is None or expected == collection else expected


def is_identifier(name: str) -> bool:
    """Whether an attribute identifies a record: ``SourceSystemID`` or a ``Source…Number`` key."""
    return name == SOURCE_SYSTEM_ID or _IDENTIFIER.fullmatch(name) is not None


def identifier_problem(name: str, value: Any) -> str | None:
    """Why a present identifier value (not ``None``) cannot be sent, else ``None``; never shows the value.

    Identifiers are text or integers, never blank; a record's ``SourceSystemID`` is never ``KFK_0``.
    """
    if isinstance(value, bool) or not isinstance(value, str | int):
        return f"must be a string or an integer, got {type(value).__name__}"
    if isinstance(value, str) and not value.strip():
        return "is blank (only whitespace): give the value, or leave the attribute out"
    if name == SOURCE_SYSTEM_ID and str(value).strip().upper() == DEFAULT_SOURCE_SYSTEM_ID:
        return (f"{DEFAULT_SOURCE_SYSTEM_ID} is CDP's default for records without a SourceSystemID, shared by every "
                "source that forgets its own and risking accidental removals: name your source system")
    return None
