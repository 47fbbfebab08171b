"""Sandbox route for the GA4 Data API v1beta `properties/{id}:runReport`.

Aggregates the world's web sessions for the requested dimensions and metrics the way GA4
answers: every value a string, `metricHeaders` with types, `rowCount` for the whole query,
offset/limit paging with `limit` capped at 250,000, and proto3 JSON's omission of defaults (an
empty report has neither `rows` nor `rowCount`; false metadata flags are absent).

Two knobs, module constants a test may monkeypatch:
- `CARDINALITY_LIMIT`: when a report has more rows than this, the rows with the fewest
  sessions are folded, per date, into one `(other)` row and `metadata.dataLossFromOtherRow` is
  set, as GA4 does for high-cardinality reports.
- `SUBJECT_TO_THRESHOLDING`: reports naming a `customUser:` dimension carry
  `metadata.subjectToThresholding`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from functools import lru_cache

from connectors.sandbox.faults import ERROR_BODIES, page_bounds
from connectors.sandbox.server import Request, Response, route
from connectors.sandbox.world import GA4_PROPERTY_ID, GA4_TIME_ZONE, WebSession, World

MAX_LIMIT = 250_000
DEFAULT_LIMIT = 10_000
CARDINALITY_LIMIT: int | None = None
SUBJECT_TO_THRESHOLDING = False
USER_DIMENSION = "customUser:site_user_id"  # the property's one registered user-scoped custom dimension
OTHER = "(other)"

STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
SCHEMA_URL = "https://developers.google.com/analytics/devguides/reporting/data/v1/api-schema"


def _error(status: int, message: str, code: int | None = None) -> dict:
    if status == 429:
        message = ("Exhausted property tokens per hour. This property has consumed its hourly quota; "
                   "try again after the hour rolls over.")
    name = STATUS_NAMES.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
    return {"error": {"code": status, "message": message, "status": name}}


ERROR_BODIES["ga4"] = _error

DIMENSIONS: dict[str, Callable[[WebSession], str]] = {
    "date": lambda s: s.date.strftime("%Y%m%d"),
    "sessionCampaignName": lambda s: s.campaign,
    "newVsReturning": lambda s: "returning" if s.returning else "new",
    USER_DIMENSION: lambda s: s.site_user_id if s.site_user_id is not None else "(not set)",
}
METRICS: dict[str, tuple[str, Callable[[list[WebSession]], int]]] = {
    "sessions": ("TYPE_INTEGER", len),
    "engagedSessions": ("TYPE_INTEGER", lambda ss: sum(1 for s in ss if s.engaged)),
    "screenPageViews": ("TYPE_INTEGER", lambda ss: sum(s.page_views for s in ss)),
    "userEngagementDuration": ("TYPE_SECONDS", lambda ss: sum(s.engagement_seconds for s in ss)),
    "activeUsers": ("TYPE_INTEGER", lambda ss: len({s.pseudo_id for s in ss})),
}


class _Invalid(Exception):
    pass


def _fail(status: int, message: str) -> Response:
    return Response(status, _error(status, message))


def _names(body: dict, key: str, known: dict, kind: str, most: int) -> list[str]:
    items = body.get(key) or []
    if not isinstance(items, list) or len(items) > most:
        raise _Invalid(f"Requests are limited to {most} {key}.")
    names = []
    for item in items:
        name = item.get("name") if isinstance(item, dict) else None
        if name not in known:
            raise _Invalid(f"Field {name} is not a valid {kind}. For a list of valid dimensions and metrics, see {SCHEMA_URL}")
        names.append(name)
    return names


def _day(text: object, today: date) -> date:
    if not isinstance(text, str):
        raise _Invalid("dateRanges require startDate and endDate.")
    if text == "today":
        return today
    if text == "yesterday":
        return today - timedelta(days=1)
    relative = re.fullmatch(r"(\d+)daysAgo", text)
    if relative:
        return today - timedelta(days=int(relative.group(1)))
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _Invalid(f"Invalid date: {text}. Dates must be YYYY-MM-DD, NdaysAgo, yesterday, or today.") from None


def _int(value: object, field_name: str) -> int:
    try:
        number = int(value)  # int64 arrives as a JSON number or a string
    except (TypeError, ValueError):
        raise _Invalid(f"Invalid value for {field_name}: {value!r}") from None
    if number < 0:
        raise _Invalid(f"{field_name} must be non-negative.")
    return number


@route("POST", r"/v1beta/properties/(?P<property>[^/:]+):runReport", "ga4.runReport")
def run_report(req: Request) -> Response:
    if req.headers.get("authorization") != f"Bearer {req.credentials.ga4_token}":
        return _fail(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
                          "or other valid authentication credential. See "
                          "https://developers.google.com/identity/sign-in/web/devconsole-project.")
    if req.match["property"] != GA4_PROPERTY_ID:
        return _fail(403, "User does not have sufficient permissions for this property. To learn more about Property ID, "
                          "see https://developers.google.com/analytics/devguides/reporting/data/v1/property-id.")
    body = req.json()
    if not isinstance(body, dict):
        return _fail(400, "Invalid JSON payload received.")
    today = req.now.date()
    try:
        dims = _names(body, "dimensions", DIMENSIONS, "dimension", 9)
        metrics = _names(body, "metrics", METRICS, "metric", 10)
        if not metrics and not dims:
            raise _Invalid("At least one dimension or metric is required.")
        ranges = body.get("dateRanges") or []
        if len(ranges) != 1 or not isinstance(ranges[0], dict):
            raise _Invalid("The sandbox supports exactly one dateRange.")  # GA4 allows up to 4
        first, last = _day(ranges[0].get("startDate"), today), _day(ranges[0].get("endDate"), today)
        if first > last:
            raise _Invalid(f"The dateRange startDate {first} is after endDate {last}.")
        offset = _int(body.get("offset", 0), "offset")
        limit = _int(body.get("limit", 0), "limit") or DEFAULT_LIMIT
    except _Invalid as exc:
        return _fail(400, str(exc))
    limit = min(limit, MAX_LIMIT)

    groups, keys = _grouped(req.world, tuple(dims), first, min(last, today))
    metadata: dict = {"currencyCode": "EUR", "timeZone": GA4_TIME_ZONE}
    if CARDINALITY_LIMIT is not None and len(groups) > CARDINALITY_LIMIT:
        groups = _fold_into_other(groups, dims, CARDINALITY_LIMIT)
        keys = sorted(groups)
        metadata["dataLossFromOtherRow"] = True
    if SUBJECT_TO_THRESHOLDING and any(d.startswith("customUser:") for d in dims):
        metadata["subjectToThresholding"] = True

    start = page_bounds(req.fault("overlap"), offset) if offset else offset  # the first page cannot drift
    answer: dict = {
        "dimensionHeaders": [{"name": d} for d in dims],
        "metricHeaders": [{"name": m, "type": METRICS[m][0]} for m in metrics],
    }
    page = [{"dimensionValues": [{"value": v} for v in key],
             "metricValues": [{"value": str(METRICS[m][1](groups[key]))} for m in metrics]}
            for key in keys[start: start + limit]]
    if page:
        answer["rows"] = page
    if keys:
        answer["rowCount"] = len(keys)
    answer["metadata"] = metadata
    answer["kind"] = "analyticsData#runReport"
    return Response(200, answer, records_key="rows")


@lru_cache(maxsize=8)
def _grouped(world: World, dims: tuple[str, ...], first: date, last: date) -> tuple[dict, list]:
    """The sessions of [first, last] grouped by the dimensions, and the sorted keys: once per report, not per page."""
    groups: dict[tuple[str, ...], list[WebSession]] = defaultdict(list)
    for s in world.sessions:
        if first <= s.date <= last:
            groups[tuple(DIMENSIONS[d](s) for d in dims)].append(s)
    return dict(groups), sorted(groups)


def _fold_into_other(groups: dict[tuple[str, ...], list[WebSession]], dims: list[str], limit: int) -> dict:
    """Keep the `limit - 1` biggest rows; the rest become one `(other)` row per date (if date is a dimension)."""
    ranked = sorted(groups, key=lambda k: (-len(groups[k]), k))
    kept = {k: groups[k] for k in ranked[: max(0, limit - 1)]}
    for key in ranked[max(0, limit - 1):]:
        other = tuple(v if d == "date" else OTHER for d, v in zip(dims, key, strict=True))
        kept.setdefault(other, []).extend(groups[key])
    return kept
