"""Acquia CDP DW tracker storage: records by tenant and entity, KFK_0 filing, soft deletes, erasures.

The payload rules are ``payload``'s; this module stores records that passed them, as CDP
would: keyed entities upsert by ``Source{Entity}Number`` keeping the latest non-null value
of each attribute, events are appended, a record without ``SourceSystemID`` is filed under
``KFK_0`` (and counted), and ``DeleteFlag: true`` is kept on the record (a soft delete). The
Event entity has no ``DeleteFlag``: one sent on an event (the ``cdp.event_delete_flag`` reading
``ignored``; under ``refused`` it never gets here) is not stored, and deletes nothing.
Not thread-safe: ``CdpService`` holds its lock around every call.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_monetate.testing.acquia_cdp.payload import (
    DEFAULT_SOURCE_SYSTEM_ID,
    entity_name,
    key_field,
    record_key,
)

__all__ = ["RecordStore"]


class RecordStore:
    """Stored tracker records and the KFK_0 count, per tenant."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}  # tenant -> entity -> {key: record} | [events]
        self.kfk0: dict[str, int] = {}
        #: Entities the tenant keys by a column other than Source{Entity}Number (its configuration).
        self.entity_keys: dict[str, str] = {}

    def ingest(self, tenant: str, body: dict[str, list[dict]]) -> dict[str, int]:
        """Store a payload that passed the rules; return records received per collection."""
        return {collection: self.store(tenant, collection, records) for collection, records in body.items()}

    def store(self, tenant: str, collection: str, records: list[dict]) -> int:
        """Store one collection's records; return how many."""
        entity = entity_name(collection)
        key = key_field(entity, self.entity_keys)
        store = self.records.setdefault(tenant, {})
        for record in records:
            if record.get("SourceSystemID") is None:
                # The real system's default: the hazard the seed warns about.
                record = {**record, "SourceSystemID": DEFAULT_SOURCE_SYSTEM_ID}
                self.kfk0[tenant] = self.kfk0.get(tenant, 0) + 1
            if key is None:
                store.setdefault(entity, []).append({k: v for k, v in record.items() if k != "DeleteFlag"})
                continue
            keyed = store.setdefault(entity, {})
            value = record_key(entity, record, self.entity_keys)
            existing = keyed.get(value)
            if existing is None:
                keyed[value] = dict(record)
            else:  # CDP keeps the latest non-null value per attribute
                existing.update((k, v) for k, v in record.items() if v is not None)
        return len(records)

    def _customer_key(self, tenant: str, customer_id: str) -> str | None:
        key = key_field("Customer", self.entity_keys)
        for stored_key, record in self.records.get(tenant, {}).get("Customer", {}).items():
            if str(record.get(key)) == customer_id or str(record.get("UUID")) == customer_id:
                return stored_key
        return None

    def has_customer(self, tenant: str, customer_id: str) -> bool:
        """Whether a customer record is stored under this ``SourceCustomerNumber`` (or ``UUID``)."""
        return self._customer_key(tenant, customer_id) is not None

    def remove_customer(self, tenant: str, customer_id: str) -> None:
        """Erase a customer's record (a data erasure, not a soft delete)."""
        key = self._customer_key(tenant, customer_id)
        if key is not None:
            del self.records[tenant]["Customer"][key]

    def records_of(self, tenant_id: str, entity: str) -> list[dict]:
        """Copies of stored records (soft-deleted ones included, with ``DeleteFlag: true``).

        :param tenant_id: the tenant.
        :param entity: entity or collection name (``customers`` or ``Customer``).
        """
        stored = self.records.get(str(tenant_id), {}).get(entity_name(entity), [])
        values = stored.values() if isinstance(stored, dict) else stored
        return [dict(r) for r in values]

    def stats(self) -> dict:
        """``kfk0_records``, ``kfk0_by_tenant``, ``records`` and ``soft_deleted`` (per tenant and entity)."""
        counts: dict[str, dict[str, int]] = {}
        deleted: dict[str, dict[str, int]] = {}
        for tenant, entities in self.records.items():
            for entity, stored in entities.items():
                values = list(stored.values()) if isinstance(stored, dict) else stored
                counts.setdefault(tenant, {})[entity] = len(values)
                flagged = sum(1 for r in values if r.get("DeleteFlag") is True)
                if flagged:
                    deleted.setdefault(tenant, {})[entity] = flagged
        return {
            "kfk0_records": sum(self.kfk0.values()),
            "kfk0_by_tenant": dict(self.kfk0),
            "records": counts,
            "soft_deleted": deleted,
        }

    def reset(self) -> None:
        """Forget every record and count."""
        self.records.clear()
        self.kfk0.clear()
        self.entity_keys.clear()
