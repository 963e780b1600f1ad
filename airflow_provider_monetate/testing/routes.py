"""Route names: the unit for fault injection, counters and the request log."""

from __future__ import annotations

__all__ = [
    "ALL_ROUTES",
    "CDP_AUTH",
    "CDP_ERASURE",
    "CDP_TOKEN",
    "CDP_TRACKER",
    "MONETATE_AUTH",
    "MONETATE_DATA",
    "MONETATE_PRIVACY_STATUS",
    "MONETATE_RECORD",
    "MONETATE_SCHEMA",
    "MONETATE_UPLOAD",
    "ROUTES",
]

MONETATE_AUTH = "monetate.auth"
MONETATE_SCHEMA = "monetate.schema"  # schema/ and schematype/
MONETATE_UPLOAD = "monetate.upload"
MONETATE_DATA = "monetate.data"  # POST rows
MONETATE_RECORD = "monetate.record"  # GET one record (rate-limited spot check)
MONETATE_PRIVACY_STATUS = "monetate.privacy_status"
CDP_TOKEN = "cdp.token"
CDP_AUTH = "cdp.auth"
CDP_TRACKER = "cdp.tracker"
CDP_ERASURE = "cdp.erasure"  # the GDPR/CCPA data erasure API

ROUTES: tuple[str, ...] = (
    MONETATE_AUTH,
    MONETATE_SCHEMA,
    MONETATE_UPLOAD,
    MONETATE_DATA,
    MONETATE_RECORD,
    MONETATE_PRIVACY_STATUS,
    CDP_TOKEN,
    CDP_AUTH,
    CDP_TRACKER,
    CDP_ERASURE,
)

#: Fault target meaning "every route".
ALL_ROUTES = "*"
