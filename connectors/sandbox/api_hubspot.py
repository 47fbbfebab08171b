"""Sandbox routes for HubSpot CRM v3 contacts: the list (`after` cursor paging) and search.

- `hubspot.contacts`  GET  /crm/v3/objects/contacts         limit <= 100, `after` = the next id
- `hubspot.search`    POST /crm/v3/objects/contacts/search  limit <= 200, `after` = an offset,
  at most `SEARCH_CAP` results per query (paging past it is a 400, as on HubSpot; a test may
  monkeypatch the constant)

Limits: 100 requests per rolling 10 seconds (policy TEN_SECONDLY_ROLLING) and 4 search requests per
second (SECONDLY); beyond either the answer is HubSpot's 429 RATE_LIMIT body naming the policy.

Only contacts created at or before the sandbox clock exist. Properties the client did not ask
for are not returned (createdate, lastmodifieddate and hs_object_id always are); requested
properties with no value are null. An `overlap` fault starts a later page a few records early;
the next cursor then follows from where that page really ended, so it repeats records and never
skips any.
"""

from __future__ import annotations

import uuid
from bisect import bisect_left
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from connectors.sandbox.faults import page_bounds
from connectors.sandbox.routing import Limits, Rate, Request, Response, route
from connectors.sandbox.world import CrmContact, World

SEARCH_CAP = 10_000
LIST_MAX = 100
SEARCH_MAX = 200
DEFAULT_PROPERTIES = ["firstname", "lastname", "email"]
ALWAYS = ("createdate", "lastmodifieddate", "hs_object_id")
# the portal's multi-select holdout property: values joined with ';' as HubSpot stores them
HOLDOUT_PROPERTY = "engagement_holdout"
FILTER_OPERATORS = {"GTE": lambda a, b: a >= b, "GT": lambda a, b: a > b, "LTE": lambda a, b: a <= b,
                    "LT": lambda a, b: a < b, "EQ": lambda a, b: a == b}


def _error(status: int, message: str, code: int | None = None) -> dict:
    if status == 429:
        return {"status": "error", "message": "You have reached your secondly limit.", "errorType": "RATE_LIMIT",
                "correlationId": str(uuid.uuid4()), "policyName": "SECONDLY"}
    category = {400: "VALIDATION_ERROR", 401: "INVALID_AUTHENTICATION", 403: "MISSING_SCOPES"}.get(status, "INTERNAL_ERROR")
    return {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category}


CREDENTIALS = {"hubspot_token": "pat-na1-sandbox-hubspot-token"}  # what this fake accepts (see server.Credentials)


def exports(url: str, credentials: Any) -> dict[str, str]:
    """The connector settings that point the client at a sandbox serving at `url`."""
    return {"HUBSPOT_ACCESS_TOKEN": credentials.hubspot_token, "HUBSPOT_API_URL": url}


error_body = _error  # the server answers injected faults with it

# HubSpot's documented limits for a private or OAuth app of a Free or Starter account (the lowest tier):
# 100 requests per rolling 10 seconds; the CRM search endpoints besides at 4 requests per second
BURST = Rate(100, 10.0, "hubspot.*", "TEN_SECONDLY_ROLLING")
SEARCH = Rate(4, 1.0, "hubspot.search", "SECONDLY")


def limits(world: World) -> Limits:
    return Limits(rates=(BURST, SEARCH))


def throttled(rate: Rate | None, retry_in: float) -> Response:
    policy = rate.name if rate is not None else "SECONDLY"
    return Response(429, {"status": "error", "message": f"You have reached your {policy.lower()} limit.",
                          "errorType": "RATE_LIMIT", "correlationId": str(uuid.uuid4()), "policyName": policy,
                          "groupName": "publicapi"})


def _iso(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _denied(req: Request) -> Response | None:
    if req.headers.get("authorization") != f"Bearer {req.credentials.hubspot_token}":
        return Response(401, _error(401, "Authentication credentials not found. This API supports OAuth 2.0 authentication "
                                         "and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"))
    return None


def _bad(message: str) -> Response:
    return Response(400, _error(400, message))


def _stored(c: CrmContact) -> dict[str, str | None]:
    """Every property the sandbox's portal has for a contact, as HubSpot stores them (strings)."""
    return {"email": c.email, "firstname": c.firstname, "lastname": c.lastname, "site_user_id": c.site_user_id,
            "twitterhandle": c.twitterhandle, "facebook_user_id": c.facebook_user_id, HOLDOUT_PROPERTY: c.holdout,
            "createdate": _iso(c.created), "lastmodifieddate": _iso(c.modified), "hs_object_id": c.id}


def _json(c: CrmContact, wanted: list[str]) -> dict:
    stored = _stored(c)
    # unknown property names are left out; known ones with no value are null
    properties = {p: stored[p] for p in dict.fromkeys([*wanted, *ALWAYS]) if p in stored}
    return {"id": c.id, "properties": properties, "createdAt": _iso(c.created), "updatedAt": _iso(c.modified),
            "archived": False}


def _existing(req: Request) -> list[CrmContact]:
    return [c for c in req.world.contacts if c.created <= req.now]


def _limit(value: object, most: int) -> int | None:
    try:
        limit = int(value)
    except (TypeError, ValueError):
        return None
    return limit if 1 <= limit <= most else None


@lru_cache(maxsize=8)
def _by_id(world: World, now: datetime) -> tuple[tuple[CrmContact, ...], list[int]]:
    """The contacts existing at `now` sorted by id, and their ids: sorted once, not once per page."""
    contacts = tuple(sorted((c for c in world.contacts if c.created <= now), key=lambda c: int(c.id)))
    return contacts, [int(c.id) for c in contacts]


@route("GET", r"/crm/v3/objects/contacts", "hubspot.contacts")
def list_contacts(req: Request) -> Response:
    if denied := _denied(req):
        return denied
    limit = _limit(req.arg("limit", "10"), LIST_MAX)
    if limit is None:
        return _bad(f"limit must be between 1 and {LIST_MAX}")
    wanted = [p for p in (req.arg("properties") or "").split(",") if p] or DEFAULT_PROPERTIES
    contacts, ids = _by_id(req.world, req.now)
    after = req.arg("after")
    if after is not None and not after.isdigit():
        return _bad(f"Invalid after value: {after}")
    start = 0
    if after is not None:
        start = bisect_left(ids, int(after))
        start = page_bounds(req.fault("overlap"), start)
    page = contacts[start: start + limit]
    body: dict = {"results": [_json(c, wanted) for c in page]}
    if start + limit < len(contacts):
        nxt = str(int(page[-1].id) + 1)
        body["paging"] = {"next": {"after": nxt, "link": f"{req.server.url}/crm/v3/objects/contacts?after={nxt}"}}
    return Response(200, body, records_key="results")


def _ms(c: CrmContact, prop: str) -> int:
    ts = c.created if prop == "createdate" else c.modified
    return int(ts.timestamp() * 1000)


@route("POST", r"/crm/v3/objects/contacts/search", "hubspot.search")
def search_contacts(req: Request) -> Response:
    if denied := _denied(req):
        return denied
    body = req.json()
    if not isinstance(body, dict):
        return _bad("Invalid input JSON on line 1")
    limit = _limit(body.get("limit", 10), SEARCH_MAX)
    if limit is None:
        return _bad(f"limit must be between 1 and {SEARCH_MAX}")
    groups = []
    for group in body.get("filterGroups") or []:
        tests = []
        for f in group.get("filters") or []:
            prop, op, value = f.get("propertyName"), f.get("operator"), f.get("value")
            if prop not in ("lastmodifieddate", "createdate") or op not in FILTER_OPERATORS:
                return _bad(f"The sandbox cannot filter on {prop} {op}")
            try:
                ms = int(value)
            except (TypeError, ValueError):
                return _bad(f"{value} is not a valid millisecond timestamp for {prop}")
            tests.append((prop, FILTER_OPERATORS[op], ms))
        groups.append(tests)

    def matches(c: CrmContact) -> bool:  # filter groups are OR-ed, filters within one AND-ed
        return not groups or any(all(op(_ms(c, prop), ms) for prop, op, ms in tests) for tests in groups)

    sort_prop, descending = "lastmodifieddate", False
    for s in body.get("sorts") or []:
        if isinstance(s, dict):
            sort_prop, descending = s.get("propertyName", sort_prop), s.get("direction") == "DESCENDING"
    if sort_prop not in ("lastmodifieddate", "createdate"):
        return _bad(f"The sandbox cannot sort on {sort_prop}")
    found = sorted((c for c in _existing(req) if matches(c)), key=lambda c: (_ms(c, sort_prop), int(c.id)), reverse=descending)
    after = str(body.get("after") or "0")
    if not after.isdigit():
        return _bad(f"Invalid after value: {after}")
    offset = int(after)
    if offset >= SEARCH_CAP:
        return _bad(f"The maximum number of results that can be paged through for a search is {SEARCH_CAP}; "
                    "narrow the query with filters")
    start = page_bounds(req.fault("overlap"), offset) if offset else 0
    page = found[start: start + limit]
    wanted = body.get("properties") or DEFAULT_PROPERTIES
    answer: dict = {"total": len(found), "results": [_json(c, wanted) for c in page]}
    if start + len(page) < len(found):
        answer["paging"] = {"next": {"after": str(start + len(page))}}
    return Response(200, answer, records_key="results")
