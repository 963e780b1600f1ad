"""Acquia CDP entity vocabulary: collection keys, entity names, upsert keys, and the shared attributes.

The tracker takes ``{"customers": [...], "transactionItems": [...], "PetInfo": [...]}``: a
collection key names an entity (``customers`` -> ``Customer``, ``addresses`` -> ``Address``), and
keyed entities upsert by ``Source{Entity}Number``. Both are guesses by analogy where the documents
name neither, so :class:`EntityNaming` lets a task set them per entity. Every record carries
``SourceSystemID``; without one CDP files it under ``KFK_0``. No Airflow imports.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_monetate.exceptions import ConfigurationError, MissingSourceSystemIdError

__all__ = [
    "COLLECTION_PATTERN",
    "DEFAULT_SOURCE_SYSTEM_ID",
    "DELETE_FLAG",
    "KEYLESS_ENTITIES",
    "KFK0_HAZARD",
    "SOURCE_SYSTEM_ID",
    "STANDARD_COLLECTIONS",
    "EntityNaming",
    "checked_source_system_id",
    "collection_misspelling",
    "collection_problem",
    "entity_name",
    "identifier_problem",
    "is_identifier",
    "key_field",
    "missing_source_system_id",
    "singular",
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
#: A collection key: it also names the entity's checkpoint and rejects files.
COLLECTION_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_ATTRIBUTE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


# The emulator (testing/acquia_cdp/payload.py) writes this rule again on purpose: it checks the
# documents, not our reading of them, so a mistake here cannot hide in both.
def singular(word: str) -> str:
    """The singular of an English plural, case kept: ``addresses`` -> ``address``,
    ``categories`` -> ``category``, ``boxes`` -> ``box``, ``statuses`` -> ``status``, ``houses``
    -> ``house``, ``customers`` -> ``customer``.

    A word that is not a plural is returned as it is: ``Address`` (``ss``), ``Status`` (``us``),
    ``Analysis`` (``is``), ``PetInfo``.
    """
    lower = word.lower()
    if lower.endswith("ies") and len(word) > 4:
        return word[:-3] + ("Y" if word[-3:].isupper() else "y")
    if lower.endswith(("sses", "xes", "ches", "shes")) or (lower.endswith("uses") and lower[-5:-4] not in "aeiou"):
        return word[:-2]  # addresses, boxes, matches, wishes; statuses and bonuses, not houses or causes
    if lower.endswith("s") and not lower.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def entity_name(collection: str) -> str:
    """The entity behind a collection key: first letter upper-cased, the plural made singular.

    ``customers`` -> ``Customer``, ``transactionItems`` -> ``TransactionItem``, ``addresses``
    and ``Address`` -> ``Address``, ``categories`` -> ``Category``, ``PetInfo`` -> ``PetInfo``.
    """
    name = singular(collection)
    return name[:1].upper() + name[1:]


def key_field(entity: str) -> str | None:
    """The upsert key ``Source{Entity}Number``, or ``None`` for events (they have no key)."""
    return None if entity in KEYLESS_ENTITIES else f"Source{entity}Number"


def _folded(collection: str) -> str:
    """A collection name without case or plural: ``Customers`` -> ``customer``, ``addresses`` -> ``address``."""
    return singular(collection).lower()


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


def _checked_map(parameter: str, given: Any, pattern: re.Pattern, what: str) -> dict[str, str]:
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise ConfigurationError(f"{parameter} must be a dict of collection -> {what}, got {type(given).__name__}")
    checked = {}
    for name, value in given.items():
        if not isinstance(name, str) or not COLLECTION_PATTERN.fullmatch(name):
            raise ConfigurationError(f"{parameter} key {name!r} is not a collection name (letters, digits, _)")
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise ConfigurationError(f"{parameter}[{name!r}] must be a non-empty {what} (letters, digits, _), "
                                     f"got {value!r}")
        checked[name] = value
    return checked


class EntityNaming:
    """How each entity travels to the tracker: its collection key and its key column, per entity.

    Both are guesses by analogy where no document names them (the collection keys of the
    address entities and of custom entities, a custom entity's ``Source{Entity}Number``), so
    both can be set per entity. The maps are keyed by the collection as the task names it
    (``customers``, ``Address``, ``PetInfo``); what is not overridden keeps the default.

    :param collection_names: ``{"Address": "addresses"}``: the key each collection is sent under.
    :param key_fields: ``{"PetInfo": "SourcePetNumber"}``: the attribute an entity upserts by.
    :raises ConfigurationError: a value that is not a name, a key for events (they have none),
        or two collections sent under one key (or under another standard collection's key).
    """

    def __init__(self, collection_names: Mapping[str, str] | None = None,
                 key_fields: Mapping[str, str] | None = None) -> None:
        self.collection_names = _checked_map("collection_names", collection_names, COLLECTION_PATTERN,
                                             "collection key")
        self.key_fields = _checked_map("key_fields", key_fields, _ATTRIBUTE, "attribute name")
        for name in self.key_fields:
            if entity_name(name) in KEYLESS_ENTITIES:
                raise ConfigurationError(f"key_fields[{name!r}]: events have no key (CDP appends them); remove it")
        wires: dict[str, str] = {}
        for name in self.collection_names:
            wire = self.collection(name)
            if wire in wires:
                raise ConfigurationError(f"collection_names sends {wires[wire]!r} and {name!r} under the same "
                                         f"collection key {wire!r}")
            wires[wire] = name
            standard = _STANDARD_BY_FOLDED.get(_folded(wire))
            if standard is not None and standard != _STANDARD_BY_FOLDED.get(_folded(name)):
                raise ConfigurationError(f"collection_names[{name!r}] = {wire!r}: that key already names the "
                                         f"{standard!r} collection")

    def collection(self, name: str) -> str:
        """The key ``name``'s records are sent under."""
        return self.collection_names.get(name, name)

    def key_field(self, name: str) -> str | None:
        """The attribute ``name``'s records upsert by (``None`` for events)."""
        return self.key_fields.get(name) or key_field(entity_name(name))

    def check(self, names: Iterable[str]) -> None:
        """Every override names one of ``names`` (the collections the task sends).

        :raises ConfigurationError: naming the override and the collections it could name.
        """
        names = list(names)
        for parameter, overrides in (("collection_names", self.collection_names), ("key_fields", self.key_fields)):
            unknown = [name for name in overrides if name not in names]
            if unknown:
                raise ConfigurationError(f"{parameter} names {', '.join(map(repr, unknown))}, which this task does "
                                         f"not send; it sends {', '.join(map(repr, names))}")


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


def collection_problem(collection: Any) -> str | None:
    """Why ``collection`` cannot name an entity collection of a task, else ``None``."""
    if not isinstance(collection, str) or not COLLECTION_PATTERN.fullmatch(collection):
        return f"entity name {collection!r} is not a CDP entity collection (letters, digits, _)"
    if expected := collection_misspelling(collection):
        return (f"entity collection {collection!r} is spelled {expected!r} in CDP's payload definition; rename it "
                "(collection_names= sets the key it is sent under)")
    return None


def checked_source_system_id(value: Any) -> str | None:
    """A default ``SourceSystemID`` as given (``None`` for none).

    :raises ConfigurationError: not a non-empty string, or ``KFK_0``.
    """
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError("source_system_id must be a non-empty string")
    if value == DEFAULT_SOURCE_SYSTEM_ID:
        raise ConfigurationError(f"source_system_id {DEFAULT_SOURCE_SYSTEM_ID!r} is CDP's default for records "
                                 "without one; name your source system instead")
    return value


def missing_source_system_id(what: str, conn_id: str) -> MissingSourceSystemIdError:
    """The error for records without a SourceSystemID and no default; ``what`` says which records."""
    return MissingSourceSystemIdError(
        f"Nothing was sent to Acquia CDP: {what} and no default SourceSystemID is set. "
        f"{KFK0_HAZARD[0].upper()}{KFK0_HAZARD[1:]}. Set source_system_id= on the task or the "
        f"'source_system_id' extra of connection {conn_id!r}, or give each record its SourceSystemID."
    )
