"""Consumer Data Privacy: what a deletion post must look like, and how a status is answered.

The seed document (monetate-consumer-data-privacy-api.txt) and the Data API spec disagree or
stay silent on six points; each is a reading (the first is the default, the seed's most literal
reading), and the provider must be right under every one:

* :data:`BODY`: the post body is the seed's one flat object, or the spec's ``schema_rows`` list;
* :data:`TIME`: which ``delete_request_time`` values the server takes;
* :data:`STATUS_TYPE`: the status as the examples' string, or the spec's ``integer``;
* :data:`UNKNOWN_ID`: an ID Monetate never held: ``NOT_FOUND``, or a 404 with a body;
* :data:`PENDING`: ``PENDING`` only for IDs Monetate held, or for any submitted ID;
* :data:`SEEN_AGAIN`: an erased ID sent again is purged again (queued), or kept.

Pure functions over the decoded body and the account; ``MonetateService`` calls them under its lock.
"""

from __future__ import annotations

import re
from typing import Any

from airflow_provider_monetate.testing.monetate.envelope import envelope, fail
from airflow_provider_monetate.testing.monetate.state import Account, describe_status
from airflow_provider_monetate.testing.readings import Readings, declare
from airflow_provider_monetate.testing.wire import Response

__all__ = [
    "BODY",
    "PENDING",
    "SEEN_AGAIN",
    "STATUS_CODES",
    "STATUS_TYPE",
    "TIME",
    "UNKNOWN_ID",
    "check_request_times",
    "posted_response",
    "posted_rows",
    "purges_erased_ids",
    "queues_any_submitted",
    "status_response",
]

BODY = declare(
    "monetate.privacy_body",
    ("flat", "schema_rows"),
    "The privacy seed's example body is ONE flat object {\"customer_id\", \"delete_request_time\"}; the Data "
    "API spec's Send Data contract is {\"schema_rows\": [...]}. 'flat': only one flat object is taken; "
    "'schema_rows': only the schema_rows list. Either way the other shape is answered 400 and nothing is "
    "processed. The provider detects it: body='auto' (default) starts with schema_rows and switches for the "
    "run after a 400; body='flat' | 'schema_rows' pins it.",
)
TIME = declare(
    "monetate.privacy_time",
    ("iso8601", "date", "datetime"),
    "The seed: delete_request_time 'should be in the ISO 8601 standard format (YYYY-MM-DD)', while its example "
    "is '2019-05-23T12:01:00.000000Z'. 'iso8601': an ISO-8601 date or date-time (both forms the seed shows); "
    "'date': only YYYY-MM-DD (the prose); 'datetime': only a date-time (the example). Anything else is "
    "answered 400. The provider detects it: delete_request_time_format='auto' (default) sends a date-time and "
    "switches to the date for the run after a 400; 'datetime' | 'date' pins it.",
)
STATUS_TYPE = declare(
    "monetate.privacy_status_type",
    ("string", "integer"),
    "The seed's example answer: \"status\": <string : oneOf(PENDING, FOUND, NOT_FOUND)>; the spec's "
    "CustomerDataPrivacy.status is 'type: integer' described 'One of PENDING, FOUND, NOT_FOUND' with the "
    "example 'status: PENDING'. No document maps integers to statuses: STATUS_CODES is this emulator's own "
    "choice. The provider detects it: a string is read as itself; an integer is read from the description "
    "(never from the code), and one the description does not settle is UNKNOWN: never a confirmation.",
)
UNKNOWN_ID = declare(
    "monetate.privacy_unknown_id",
    ("not_found", "404"),
    "The seed: NOT_FOUND = 'The customer_id has not been found within Monetate's data stores'; it also lists "
    "'404 NOT FOUND' among the status endpoint's errors without saying when. 'not_found': an ID Monetate never "
    "held answers 200 NOT_FOUND; '404': it answers 404 with an error body naming the ID (an ID Monetate erased "
    "still answers NOT_FOUND, as the seed says). The provider detects it: a 404 from the status endpoint of a "
    "privacy dataset that exists is read as NOT_FOUND.",
)
PENDING = declare(
    "monetate.privacy_pending",
    ("held", "any_submitted"),
    "The seed: 'PENDING - The customer_id has been found within Monetate's data stores and is pending "
    "removal.' 'held': only an ID Monetate holds (in a dataset other than a privacy one) is queued, so a "
    "submitted ID it never held stays NOT_FOUND; 'any_submitted': every submitted ID is PENDING until the "
    "nightly batch. The provider asks each ID's status before submitting (precheck=True), so it tells a "
    "deletion it saw happen (confirmed) from an ID there was nothing to erase (not_held) under both.",
)

SEEN_AGAIN = declare(
    "monetate.erased_seen_again",
    ("purged", "kept"),
    "The seed: 'After deleting a customer ID, Monetate continues to purge that ID from its system if it is "
    "recognized in any future sessions.' The Compliance Tools page (notes, monetate-api) says a request does not "
    "stop future collection. 'purged' (default, the seed): rows sent again for an erased ID are stored, and the "
    "ID is queued (PENDING) and purged by the next nightly batch; 'kept': they are kept (FOUND). The provider is "
    "right under both: re-verification reads FOUND and PENDING alike as the customer sent again (reappeared).",
)

#: The integer codes of the 'integer' reading: this emulator's choice (the spec lists the names in this
#: order and maps none). The provider must not rely on it, and does not: it reads the description.
STATUS_CODES = {"PENDING": 0, "FOUND": 1, "NOT_FOUND": 2}

_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME_RULES = {
    "date": (lambda value: bool(_DATE_ONLY.fullmatch(value)), "must be a date, YYYY-MM-DD."),
    "datetime": (lambda value: not _DATE_ONLY.fullmatch(value), "must be an ISO-8601 date-time, not a date."),
}


def posted_rows(body: Any, readings: Readings) -> list[dict]:
    """The rows of a post to a privacy dataset, in the body shape :data:`BODY` says.

    :raises ApiError: 400 for the other shape (nothing is processed).
    """
    if readings.get(BODY.name) == "schema_rows":
        if not isinstance(body, dict) or not isinstance(body.get("schema_rows"), list):
            raise fail(400, [{"field": "schema_rows", "message": "Body must be an object with a schema_rows list."}])
        return body["schema_rows"]
    if not isinstance(body, dict) or "schema_rows" in body or "customer_id" not in body:
        raise fail(400, [{"field": "customer_id", "message": "customer_id is required: the body is one object "
                          "with customer_id and delete_request_time."}])
    return [body]


def posted_response(body: Any, rows: list[dict], readings: Readings) -> Response:
    """The 201 for an accepted privacy post: the object or the rows, as they were sent."""
    data = rows[0] if readings.get(BODY.name) == "flat" else {"schema_rows": rows}
    return Response(201, envelope(201, data), rows=len(rows))


def check_request_times(rows: list[dict], readings: Readings) -> list[dict]:
    """Errors for ``delete_request_time`` values :data:`TIME` refuses (the generic DATETIME check ran first)."""
    rule = _TIME_RULES.get(readings.get(TIME.name))
    if rule is None:
        return []
    accepts, message = rule
    return [
        {"row": index, "field": "delete_request_time", "message": f"delete_request_time {message}"}
        for index, row in enumerate(rows)
        if isinstance(row, dict) and isinstance(row.get("delete_request_time"), str)
        and not accepts(row["delete_request_time"])
    ]


def purges_erased_ids(readings: Readings) -> bool:
    """Whether an erased ID that is sent again is queued for purging again (:data:`SEEN_AGAIN`)."""
    return readings.get(SEEN_AGAIN.name) == "purged"


def queues_any_submitted(readings: Readings) -> bool:
    """Whether a submitted ID Monetate never held is queued (``PENDING``) too (:data:`PENDING`)."""
    return readings.get(PENDING.name) == "any_submitted"


def status_response(account: Account, customer_id: str, readings: Readings) -> Response:
    """The Customer ID Status answer for one ID, as :data:`STATUS_TYPE` and :data:`UNKNOWN_ID` say.

    :raises ApiError: 404 for an ID never held, under the '404' reading.
    """
    status = account.privacy_status(customer_id)
    description = describe_status(customer_id, status)
    if status == "NOT_FOUND" and readings.get(UNKNOWN_ID.name) == "404" and not account.ever_held(customer_id):
        raise fail(404, description)
    value: str | int = STATUS_CODES[status] if readings.get(STATUS_TYPE.name) == "integer" else status
    return Response(200, envelope(200, {"status": value, "description": description}))
