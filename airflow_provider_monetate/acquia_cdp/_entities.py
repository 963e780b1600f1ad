"""Acquia CDP entity vocabulary: collection keys, entity names, upsert keys, and the shared attributes.

The tracker takes ``{"customers": [...], "transactionItems": [...], "PetInfo": [...]}``: a
collection key names an entity (``customers`` -> ``Customer``), and keyed entities upsert by
``Source{Entity}Number``. Every record carries ``SourceSystemID``; without one CDP files it
under ``KFK_0``. No Airflow imports.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_SOURCE_SYSTEM_ID",
    "DELETE_FLAG",
    "KEYLESS_ENTITIES",
    "KFK0_HAZARD",
    "SOURCE_SYSTEM_ID",
    "entity_name",
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
