"""Sandbox routes for HubSpot CRM v3 contacts (list with `after` paging, and search)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from connectors.sandbox.faults import ERROR_BODIES, page_bounds
from connectors.sandbox.server import Request, Response, route

SEARCH_CAP = 10_000


def _error(status: int, message: str, code: int | None = None) -> dict:
    if status == 429:
        return {"status": "error", "message": "You have reached your secondly limit.", "errorType": "RATE_LIMIT",
                "correlationId": str(uuid.uuid4()), "policyName": "SECONDLY"}
    category = {401: "INVALID_AUTHENTICATION", 400: "VALIDATION_ERROR"}.get(status, "INTERNAL_ERROR")
    return {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category}


ERROR_BODIES["hubspot"] = _error


def _iso(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _denied(req: Request) -> Response | None:
    if req.headers.get("authorization") != f"Bearer {req.credentials.hubspot_token}":
        return Response(401, _error(401, "Authentication credentials not found. This API supports OAuth 2.0 authentication "
                                         "and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"))
    return None


def _contacts(req: Request, props: list[str]) -> list[dict]:
    values = {"email": "email", "site_user_id": "site_user_id", "twitterhandle": "twitterhandle", "facebook_user_id": "facebook_user_id"}
    out = []
    for c in sorted(req.world.contacts, key=lambda c: int(c.id)):
        if c.created > req.now:
            continue
        known = {"email": c.email, "site_user_id": c.site_user_id, "twitterhandle": c.twitterhandle,
                 "facebook_user_id": c.facebook_user_id, "firstname": c.firstname, "lastname": c.lastname,
                 "createdate": _iso(c.created), "lastmodifieddate": _iso(c.modified), "hs_object_id": c.id}
        properties = {p: known.get(values.get(p, p)) for p in props}
        properties.update({"createdate": known["createdate"], "lastmodifieddate": known["lastmodifieddate"], "hs_object_id": c.id})
        out.append({"id": c.id, "properties": properties, "createdAt": _iso(c.created), "updatedAt": _iso(c.modified),
                    "archived": False, "_modified": c.modified})
    return out


@route("GET", r"/crm/v3/objects/contacts", "hubspot.contacts")
def list_contacts(req: Request) -> Response:
    if denied := _denied(req):
        return denied
    limit = int(req.arg("limit", "10"))
    if not 1 <= limit <= 100:
        return Response(400, _error(400, "limit must be between 1 and 100"))
    props = [p for p in (req.arg("properties") or "").split(",") if p]
    contacts = _contacts(req, props)
    offset = page_bounds(req.fault("overlap"), int(req.arg("after", "0") or 0))
    page = contacts[offset: offset + limit]
    for c in page:
        c.pop("_modified")
    body: dict = {"results": page}
    if offset + limit < len(contacts):
        nxt = str(offset + limit)
        body["paging"] = {"next": {"after": nxt, "link": f"{req.server.url}/crm/v3/objects/contacts?after={nxt}"}}
    return Response(200, body, records_key="results")


@route("POST", r"/crm/v3/objects/contacts/search", "hubspot.search")
def search_contacts(req: Request) -> Response:
    if denied := _denied(req):
        return denied
    body = req.json() or {}
    limit = int(body.get("limit", 10))
    if not 1 <= limit <= 200:
        return Response(400, _error(400, "limit must be between 1 and 200"))
    since_ms = 0
    for group in body.get("filterGroups", []):
        for f in group.get("filters", []):
            if f.get("propertyName") == "lastmodifieddate" and f.get("operator") == "GTE":
                since_ms = int(f["value"])
    since = datetime.fromtimestamp(since_ms / 1000, tz=timezone.utc)
    matches = sorted((c for c in _contacts(req, body.get("properties", [])) if c["_modified"] >= since),
                     key=lambda c: (c["_modified"], int(c["id"])))
    after = int(body.get("after") or 0)
    if after >= SEARCH_CAP:
        return Response(400, _error(400, "The maximum number of results for a search is 10000"))
    page = matches[after: after + limit]
    for c in page:
        c.pop("_modified")
    out: dict = {"total": len(matches), "results": page}
    if after + limit < min(len(matches), SEARCH_CAP):
        out["paging"] = {"next": {"after": str(after + limit)}}
    return Response(200, out, records_key="results")
