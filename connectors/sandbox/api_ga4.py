"""Sandbox route for the GA4 Data API `runReport`: aggregates the world's sessions on request."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from connectors.sandbox.faults import ERROR_BODIES, page_bounds
from connectors.sandbox.server import Request, Response, route
from connectors.sandbox.world import GA4_PROPERTY_ID, GA4_TIME_ZONE

STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 429: "RESOURCE_EXHAUSTED",
          500: "INTERNAL", 503: "UNAVAILABLE"}
DIMENSIONS = {
    "date": lambda s: s.date.strftime("%Y%m%d"),
    "sessionCampaignName": lambda s: s.campaign,
    "newVsReturning": lambda s: "returning" if s.returning else "new",
    "customUser:site_user_id": lambda s: s.site_user_id or "(not set)",
}
METRIC_TYPES = {"sessions": "TYPE_INTEGER", "engagedSessions": "TYPE_INTEGER", "screenPageViews": "TYPE_INTEGER",
                "userEngagementDuration": "TYPE_SECONDS", "activeUsers": "TYPE_INTEGER"}
MAX_LIMIT = 250_000


def _error(status: int, message: str, code: int | None = None) -> dict:
    if status == 429:
        message = "Exhausted property tokens per hour for this property."
    return {"error": {"code": status, "message": message, "status": STATUS.get(status, "UNKNOWN")}}


ERROR_BODIES["ga4"] = _error


@route("POST", r"/v1beta/properties/(?P<property>[^/:]+):runReport", "ga4.runReport")
def run_report(req: Request) -> Response:
    if req.headers.get("authorization") != f"Bearer {req.credentials.ga4_token}":
        return Response(401, _error(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                                         "login cookie or other valid authentication credential."))
    if req.match["property"] != GA4_PROPERTY_ID:
        return Response(403, _error(403, "User does not have sufficient permissions for this property."))
    body = req.json()
    if not isinstance(body, dict):
        return Response(400, _error(400, "Invalid JSON payload received."))
    dims = [d.get("name") for d in body.get("dimensions", [])]
    metrics = [m.get("name") for m in body.get("metrics", [])]
    for name in dims:
        if name not in DIMENSIONS:
            return Response(400, _error(400, f"Field {name} is not a valid dimension. For a list of valid dimensions and metrics, see https://developers.google.com/analytics/devguides/reporting/data/v1/api-schema"))
    for name in metrics:
        if name not in METRIC_TYPES:
            return Response(400, _error(400, f"Field {name} is not a valid metric."))
    ranges = body.get("dateRanges") or [{}]
    start, end = date.fromisoformat(ranges[0]["startDate"]), date.fromisoformat(ranges[0]["endDate"])
    end = min(end, req.now.date())
    groups: dict[tuple, dict] = defaultdict(lambda: {"sessions": 0, "engagedSessions": 0, "screenPageViews": 0,
                                                      "userEngagementDuration": 0, "users": set()})
    for s in req.world.sessions:
        if start <= s.date <= end:
            g = groups[tuple(DIMENSIONS[d](s) for d in dims)]
            g["sessions"] += 1
            g["engagedSessions"] += s.engaged
            g["screenPageViews"] += s.page_views
            g["userEngagementDuration"] += s.engagement_seconds
            g["users"].add(s.pseudo_id)
    rows = []
    for key in sorted(groups):
        g = groups[key]
        values = {**g, "activeUsers": len(g["users"])}
        rows.append({"dimensionValues": [{"value": v} for v in key], "metricValues": [{"value": str(values[m])} for m in metrics]})
    offset = page_bounds(req.fault("overlap"), int(body.get("offset", 0)))
    limit = min(int(body.get("limit", 10_000)), MAX_LIMIT)
    out: dict = {
        "dimensionHeaders": [{"name": d} for d in dims],
        "metricHeaders": [{"name": m, "type": METRIC_TYPES[m]} for m in metrics],
        "metadata": {"currencyCode": "EUR", "timeZone": GA4_TIME_ZONE},
        "kind": "analyticsData#runReport",
    }
    if rows:  # proto3 JSON omits defaults: an empty report has neither rows nor rowCount
        out["rows"] = rows[offset: offset + limit]
        out["rowCount"] = len(rows)
    return Response(200, out, records_key="rows")
