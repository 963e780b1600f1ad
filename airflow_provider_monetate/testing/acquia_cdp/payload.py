"""Acquia CDP tracker payload rules (pure functions, no HTTP).

The tracker accepts one JSON object whose keys name entity collections and whose values
are arrays of FLAT objects: a nested object or array as an attribute value is rejected,
as is an empty string (omit the attribute or send null instead).

A standard collection spelled otherwise than the readings say (``customer``, ``event``) names
no entity and is refused, naming the expected spelling; any other key is a custom entity.
Identifiers (``SourceSystemID``,
``Source…Number``) are strings or numbers, not booleans or blanks (a blank key is no key),
and a record that names ``KFK_0`` as its source system is refused: it is the default CDP
files unnamed records under, and the emulator makes a client that sends it explicitly fail
loudly instead of mixing sources quietly.

Open points, each a reading (declared here; the first is the default):

* ``cdp.collection_case``: ``as_defined``, the standard keys exactly as the payload definition
  spells them; or ``any_case``, in any case or plural (the seed's own example writes ``Customers``).
* ``cdp.address_collections``: the address entities' keys are ``entity_names`` (``Address``,
  ``CustomerAddressXref``, as the seed names them) or ``plural_collections`` (``addresses``,
  ``customerAddressXrefs``, by analogy with the other keys).
* ``cdp.event_delete_flag``: a ``DeleteFlag`` on an event (the Event entity has none) is
  ``ignored`` (the event is stored without it) or ``refused``.
* ``cdp.epoch_values``: system timestamps (attributes named ``…TimeStamp``/``…Timestamp``,
  ``InvoiceDate``, ``ShipDate``) must be epoch numbers or digit strings, ``seconds_or_millis``;
  ``seconds_only`` also refuses 13 digits (milliseconds); ``unchecked`` takes anything.

Written apart from the provider's own payload rules on purpose, though a few helpers
read alike: the emulator stands for Acquia and checks the client, so it must not share the
client's reading of the rules (a mistake there would then pass its own test).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_monetate.testing.readings import Readings, declare

__all__ = [
    "DEFAULT_SOURCE_SYSTEM_ID",
    "KEYLESS_ENTITIES",
    "MAX_PAYLOAD_ERRORS",
    "STANDARD_COLLECTIONS",
    "TIMESTAMP_ATTRIBUTES",
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
# address entities a customer's soft delete may carry (their keys are a reading).
STANDARD_COLLECTIONS = ("customers", "transactions", "transactionItems", "events", "Address", "CustomerAddressXref")
_ADDRESS_KEYS = {"entity_names": ("Address", "CustomerAddressXref"),
                 "plural_collections": ("addresses", "customerAddressXrefs")}
#: Documented epoch attributes besides the names ending in TimeStamp / Timestamp.
TIMESTAMP_ATTRIBUTES = frozenset({"InvoiceDate", "ShipDate"})

declare("cdp.collection_case", ("as_defined", "any_case"),
        "The seed's payload definition spells customers, transactions, transactionItems and events; its "
        "SourceSystemID example writes 'Customers'. Whether the tracker matches collection keys exactly is open.")
declare("cdp.address_collections", ("entity_names", "plural_collections"),
        "The seed: 'You can delete customer addresses only by including Address or CustomerAddressXref' (entity "
        "names); the other payload keys are camelCase plurals, so addresses / customerAddressXrefs by analogy.")
declare("cdp.event_delete_flag", ("ignored", "refused"),
        "The seed: 'The Event entity does not include a DeleteFlag as it is constant.' What the tracker does "
        "with one sent on an event (ignore it, or refuse the payload) is not said.")
declare("cdp.epoch_values", ("seconds_or_millis", "seconds_only", "unchecked"),
        "The seed: 'Each payload that contains a system timestamp must be formatted as an epoch value' (seconds); "
        "'If a timestamp is a 13-digit number, it likely represents epoch time in milliseconds'; its example is "
        "the digit string '16189320000'. Whether the tracker refuses other values, or milliseconds, is open.")


def _singular(word: str) -> str:
    lower = word.lower()
    if lower.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if lower.endswith(("sses", "xes", "ches", "shes")) or (lower.endswith("uses") and lower[-5:-4] not in "aeiou"):
        return word[:-2]
    if lower.endswith("s") and not lower.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _case_and_plural_blind(collection: str) -> str:
    return _singular(collection).casefold()


def _standard_spellings(readings: Readings) -> dict[str, str]:
    keys = (*STANDARD_COLLECTIONS[:4], *_ADDRESS_KEYS[readings.get("cdp.address_collections")])
    return {_case_and_plural_blind(name): name for name in keys}


def entity_name(collection: str) -> str:
    """Entity of a collection key: first letter upper-cased, the English plural made singular.

    ``customers`` -> ``Customer``, ``transactionItems`` -> ``TransactionItem``, ``addresses`` and
    ``Address`` -> ``Address``, ``categories`` -> ``Category``, ``PetInfo`` -> ``PetInfo``.
    """
    name = _singular(collection)
    return name[:1].upper() + name[1:]


def key_field(entity: str, entity_keys: Mapping[str, str] | None = None) -> str | None:
    """``Source{Entity}Number`` (or the tenant's key column for the entity, from ``entity_keys``),
    or ``None`` for keyless entities (events)."""
    if entity in KEYLESS_ENTITIES:
        return None
    return (entity_keys or {}).get(entity) or f"Source{entity}Number"


def record_key(entity: str, record: dict, entity_keys: Mapping[str, str] | None = None) -> str | None:
    """The value a record is stored under: its ``Source{Entity}Number``; a customer may be named
    by its ``UUID`` instead (the seed: records of customers "having a SourceCustomerNumber or UUID")."""
    key = key_field(entity, entity_keys)
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


def _epoch_error(attr: str, value: Any, reading: str) -> str | None:
    """What is wrong with a system timestamp's value under ``reading``, or ``None``."""
    if value is None or reading == "unchecked" or not (
            attr.endswith(("TimeStamp", "Timestamp")) or attr in TIMESTAMP_ATTRIBUTES):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return f"{attr} must be an epoch value (seconds since 1970-01-01 UTC)."
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()):
            return f"{attr} must be an epoch value (seconds since 1970-01-01 UTC), not a date text."
        digits = len(value.lstrip("0") or "0")
    elif value < 0:
        return f"{attr} must be a non-negative epoch value."
    else:
        digits = len(str(int(value)))
    if reading == "seconds_only" and digits >= 13:
        return f"{attr} has {digits} digits: epoch milliseconds; this tracker takes epoch seconds."
    return None


def _record_errors(path: str, record: Any, entity: str, readings: Readings,
                   entity_keys: Mapping[str, str] | None) -> list[dict]:
    """The violations of one record of ``entity`` at ``path``."""
    if not isinstance(record, dict):
        return [{"path": path, "message": "Each record must be a flat JSON object."}]
    errors = []
    key = key_field(entity, entity_keys)
    epochs = readings.get("cdp.epoch_values")
    for attr, value in record.items():
        if isinstance(value, dict | list):
            problem = "Nested objects and arrays are not supported."
        elif value == "":
            problem = "Empty strings are not allowed; omit or send null."
        else:
            problem = _identifier_error(attr, value, key) or _epoch_error(attr, value, epochs)
        if problem:
            errors.append({"path": f"{path}.{attr}", "message": problem})
    if key is not None and record_key(entity, record, entity_keys) is None:
        errors.append({"path": f"{path}.{key}", "message": f"{key} is required."})
    flag = record.get("DeleteFlag")
    if flag is not None and not isinstance(flag, bool):
        errors.append({"path": f"{path}.DeleteFlag", "message": "DeleteFlag must be true, false or null."})
    elif "DeleteFlag" in record and key is None and readings.get("cdp.event_delete_flag") == "refused":
        errors.append({"path": f"{path}.DeleteFlag", "message": "The Event entity has no DeleteFlag (it is constant)."})
    return errors


def _collection_error(collection: str, records: Any, readings: Readings) -> dict | None:
    """What is wrong with a collection key or its value as a whole, or ``None``."""
    if not collection:
        return {"path": "$", "message": "Entity collection names must be non-empty."}
    if not isinstance(records, list):
        return {"path": collection, "message": "An entity collection must be an array of objects."}
    expected = _standard_spellings(readings).get(_case_and_plural_blind(collection))
    if expected is not None and expected != collection and readings.get("cdp.collection_case") == "as_defined":
        return {"path": collection, "message": f"Unknown entity collection {collection!r}: collection keys are "
                f"matched exactly; the standard one is {expected!r}."}
    return None


def payload_errors(body: Any, readings: Readings | None = None,
                   entity_keys: Mapping[str, str] | None = None) -> list[dict]:
    """Every rule violation as ``{"path": ..., "message": ...}`` (capped).

    :param body: the decoded JSON body.
    :param readings: the readings in force (default: every default).
    :param entity_keys: the tenant's key column of an entity that is not keyed ``Source{Entity}Number``.
    """
    readings = readings if readings is not None else Readings()
    if not isinstance(body, dict):
        return [{"path": "$", "message": "The payload must be a JSON object of entity collections."}]
    errors: list[dict] = []
    for collection, records in body.items():
        problem = _collection_error(collection, records, readings)
        if problem:
            errors.append(problem)
            continue
        entity = entity_name(collection)
        for index, record in enumerate(records):
            errors += _record_errors(f"{collection}[{index}]", record, entity, readings, entity_keys)
        if len(errors) >= MAX_PAYLOAD_ERRORS:
            break
    return errors[:MAX_PAYLOAD_ERRORS]
