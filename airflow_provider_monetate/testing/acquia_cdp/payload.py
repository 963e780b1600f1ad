"""Acquia CDP tracker payload rules (pure functions, no HTTP).

The tracker accepts one JSON object whose keys name entity collections and whose values
are arrays of FLAT objects: a nested object or array as an attribute value is rejected,
as is an empty string (omit the attribute or send null instead).

Collection keys are case-sensitive: a standard collection spelled otherwise (``customer``,
``Customers``, ``event``) names no entity and is refused, naming the spelling Acquia's
payload definition uses; any other key is a custom entity. Identifiers (``SourceSystemID``,
``Source…Number``) are strings or numbers, not booleans or blanks (a blank key is no key),
and a record that names ``KFK_0`` as its source system is refused: it is the default CDP
files unnamed records under, and the emulator makes a client that sends it explicitly fail
loudly instead of mixing sources quietly.

Written apart from the provider's own payload rules on purpose, though a few helpers
read alike: the emulator stands for Acquia and checks the client, so it must not share the
client's reading of the rules (a mistake there would then pass its own test).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DEFAULT_SOURCE_SYSTEM_ID",
    "KEYLESS_ENTITIES",
    "MAX_PAYLOAD_ERRORS",
    "STANDARD_COLLECTIONS",
    "entity_name",
    "key_field",
    "payload_errors",
    "record_key",
]

# Written apart from the provider's: the emulator checks the documents, not our reading of them.
DEFAULT_SOURCE_SYSTEM_ID = "KFK_0"  # what CDP assigns when SourceSystemID is missing
KEYLESS_ENTITIES = frozenset({"Event"})
MAX_PAYLOAD_ERRORS = 100
# The seed's payload definition: customers, transactions, transactionItems, events; and the
# address entities a customer's soft delete may carry.
STANDARD_COLLECTIONS = ("customers", "transactions", "transactionItems", "events", "Address", "CustomerAddressXref")


def _case_and_plural_blind(collection: str) -> str:
    name = collection.casefold()
    if name.endswith("sses"):  # addresses -> address
        return name[:-2]
    if name.endswith("s") and not name.endswith("ss"):
        return name[:-1]
    return name


_STANDARD_SPELLING = {_case_and_plural_blind(name): name for name in STANDARD_COLLECTIONS}


def entity_name(collection: str) -> str:
    """Entity of a collection key: first letter upper-cased, one trailing ``s`` removed.

    ``customers`` -> ``Customer``, ``transactionItems`` -> ``TransactionItem``,
    ``Address`` -> ``Address`` (a double ``ss`` is not a plural), ``PetInfo`` -> ``PetInfo``.
    """
    name = collection[:1].upper() + collection[1:]
    if name.endswith("s") and not name.endswith("ss"):
        name = name[:-1]
    return name


def key_field(entity: str) -> str | None:
    """``Source{Entity}Number``, or ``None`` for keyless entities (events)."""
    return None if entity in KEYLESS_ENTITIES else f"Source{entity}Number"


def record_key(entity: str, record: dict) -> str | None:
    """The value a record is stored under: its ``Source{Entity}Number``; a customer may be named
    by its ``UUID`` instead (the seed: records of customers "having a SourceCustomerNumber or UUID")."""
    key = key_field(entity)
    if key is None:
        return None
    if not _blank(record.get(key)):
        return str(record[key])
    if entity == "Customer" and not _blank(record.get("UUID")):
        return f"UUID:{record['UUID']}"
    return None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _identifier_error(attr: str, value: Any, key: str | None) -> str | None:
    """What is wrong with an identifier attribute's value, or ``None`` (also for non-identifiers)."""
    if value is None or not (attr == "SourceSystemID" or (attr.startswith("Source") and attr.endswith("Number")
                                                          and len(attr) > len("SourceNumber"))):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return f"{attr} must be a string or a number."
    if isinstance(value, str) and not value.strip() and value != "" and attr != key:  # a blank key: "required"
        return f"{attr} must not be blank."
    if attr == "SourceSystemID" and isinstance(value, str) and value.strip().upper() == DEFAULT_SOURCE_SYSTEM_ID:
        return f"{DEFAULT_SOURCE_SYSTEM_ID} is the source system CDP assigns to records without one; name yours."
    return None


def payload_errors(body: Any) -> list[dict]:
    """Every rule violation as ``{"path": ..., "message": ...}`` (capped).

    :param body: the decoded JSON body.
    """
    if not isinstance(body, dict):
        return [{"path": "$", "message": "The payload must be a JSON object of entity collections."}]
    errors: list[dict] = []
    for collection, records in body.items():
        if not collection:
            errors.append({"path": "$", "message": "Entity collection names must be non-empty."})
            continue
        if not isinstance(records, list):
            errors.append({"path": collection, "message": "An entity collection must be an array of objects."})
            continue
        expected = _STANDARD_SPELLING.get(_case_and_plural_blind(collection))
        if expected is not None and expected != collection:
            errors.append({"path": collection, "message": f"Unknown entity collection {collection!r}: collection "
                           f"keys are case-sensitive; the standard one is {expected!r}."})
            continue
        key = key_field(entity_name(collection))
        for index, record in enumerate(records):
            path = f"{collection}[{index}]"
            if not isinstance(record, dict):
                errors.append({"path": path, "message": "Each record must be a flat JSON object."})
                continue
            for attr, value in record.items():
                if isinstance(value, dict | list):
                    errors.append({"path": f"{path}.{attr}", "message": "Nested objects and arrays are not supported."})
                elif value == "":
                    errors.append(
                        {"path": f"{path}.{attr}", "message": "Empty strings are not allowed; omit or send null."}
                    )
                elif problem := _identifier_error(attr, value, key):
                    errors.append({"path": f"{path}.{attr}", "message": problem})
            if key is not None and record_key(entity_name(collection), record) is None:
                errors.append({"path": f"{path}.{key}", "message": f"{key} is required."})
            if record.get("DeleteFlag") is not None and not isinstance(record["DeleteFlag"], bool):
                errors.append({"path": f"{path}.DeleteFlag", "message": "DeleteFlag must be true, false or null."})
        if len(errors) >= MAX_PAYLOAD_ERRORS:
            break
    return errors[:MAX_PAYLOAD_ERRORS]
