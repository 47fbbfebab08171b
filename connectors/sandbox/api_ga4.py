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
- `SAMPLED`: every report carries `metadata.samplingMetadatas` (its figures are then estimates).
- `RETENTION_START`: the property keeps event data from this date on; a report whose date range
  starts earlier answers without the earlier days and says so in `metadata.dataTruncationReasons`
  (`DATA_TRUNCATION_TYPE_PROPERTY` with `dataTruncationDate`, as GA4 does since 2026-09).
- `CONCURRENT_REQUESTS`: simultaneous runReport requests the property allows (GA4's quota, 10); one
  more is answered 429 RESOURCE_EXHAUSTED.
- `EXPERIENCE_DIMENSION_REGISTERED`: the property registered `exp_variant_string` as an event-scoped
  custom dimension (GA4's experiment integration); when False, asking for it is a 400 naming it.

Two kinds of rows are aggregated: sessions (session-scoped dimensions, session metrics including
the value metrics keyEvents, transactions and purchaseRevenue) and events (the world keeps only
`experience_impression`; dimension `customEvent:exp_variant_string`, metric `eventCount`). A request
mixing the two is incompatible, as GA4 says of dimensions and metrics of different scopes.
`dimensionFilter` understands `filter` (stringFilter, inListFilter), `andGroup`, `orGroup` and
`notExpression`. Rows whose metrics are all zero are dropped unless `keepEmptyRows`.
"""

from __future__ import annotations

import json
import re
import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from connectors.sandbox.faults import page_bounds
from connectors.sandbox.routing import Limits, Rate, Request, Response, route
from connectors.sandbox.world import GA4_PROPERTY_ID, GA4_TIME_ZONE, ExperienceImpression, WebSession, World

MAX_LIMIT = 250_000
DEFAULT_LIMIT = 10_000
CARDINALITY_LIMIT: int | None = None
SUBJECT_TO_THRESHOLDING = False
SAMPLED = False  # every report answers with samplingMetadatas (one per date range), as a sampled GA4 report does
RETENTION_START: date | None = None  # days before it are truncated from every report (dataTruncationReasons)
USER_DIMENSION = "customUser:site_user_id"  # the property's one registered user-scoped custom dimension
EXPERIENCE_DIMENSION = "customEvent:exp_variant_string"
EXPERIENCE_DIMENSION_REGISTERED = True
OTHER = "(other)"
NOT_SET = "(not set)"

STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
SCHEMA_URL = "https://developers.google.com/analytics/devguides/reporting/data/v1/api-schema"


def _error(status: int, message: str, code: int | None = None) -> dict:
    if status == 429:
        message = ("Exhausted property tokens per hour. This property has consumed its hourly quota; "
                   "try again after the hour rolls over.")
    name = STATUS_NAMES.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
    return {"error": {"code": status, "message": message, "status": name}}


CREDENTIALS = {"ga4_token": "sandbox-ga4-token"}  # what this fake accepts (see server.Credentials)


def exports(url: str, credentials: Any) -> dict[str, str]:
    """The connector settings that point the client at a sandbox serving at `url`."""
    return {
        "GA4_PROPERTY_ID": GA4_PROPERTY_ID,
        "GA4_ACCESS_TOKEN": credentials.ga4_token,
        "GA4_USER_ID_DIMENSION": "customUser:site_user_id",
        "GA4_API_URL": f"{url}/v1beta",
    }


error_body = _error  # the server answers injected faults with it

# GA4's quota of simultaneous requests per standard property (Analytics 360: 50)
CONCURRENT_REQUESTS = 10


def limits(world: World) -> Limits:
    """The sandbox serves one property: its concurrent requests are all this API's. The token buckets
    (40,000 per hour and 200,000 per day for a standard property) are far above any run here."""
    return Limits(concurrent=CONCURRENT_REQUESTS)


def throttled(rate: Rate | None, retry_in: float) -> Response:
    # RESOURCE_EXHAUSTED in google.rpc.Status form; GA4's exact wording for this quota is not published
    return Response(429, {"error": {"code": 429, "message": "Exhausted concurrent requests quota for this property.",
                                    "status": "RESOURCE_EXHAUSTED"}})

DIMENSIONS: dict[str, Callable[[WebSession], str]] = {
    "date": lambda s: s.date.strftime("%Y%m%d"),
    "sessionCampaignName": lambda s: s.campaign,
    "newVsReturning": lambda s: "returning" if s.returning else "new",
    USER_DIMENSION: lambda s: s.site_user_id if s.site_user_id is not None else NOT_SET,
    "sessionManualAdContent": lambda s: s.ad_content or NOT_SET,
}
METRICS: dict[str, tuple[str, Callable[[list[WebSession]], int | float]]] = {
    "sessions": ("TYPE_INTEGER", len),
    "engagedSessions": ("TYPE_INTEGER", lambda ss: sum(1 for s in ss if s.engaged)),
    "screenPageViews": ("TYPE_INTEGER", lambda ss: sum(s.page_views for s in ss)),
    "userEngagementDuration": ("TYPE_SECONDS", lambda ss: sum(s.engagement_seconds for s in ss)),
    "activeUsers": ("TYPE_INTEGER", lambda ss: len({s.pseudo_id for s in ss})),
    "keyEvents": ("TYPE_INTEGER", lambda ss: sum(s.key_events for s in ss)),
    "transactions": ("TYPE_INTEGER", lambda ss: sum(s.transactions for s in ss)),
    "purchaseRevenue": ("TYPE_CURRENCY", lambda ss: round(sum(s.purchase_revenue for s in ss), 2)),
}
EVENT_DIMENSIONS: dict[str, Callable[[ExperienceImpression], str]] = {
    "date": lambda e: e.date.strftime("%Y%m%d"),
    USER_DIMENSION: lambda e: e.site_user_id if e.site_user_id is not None else NOT_SET,
    EXPERIENCE_DIMENSION: lambda e: e.exp_variant_string,
    "eventName": lambda e: "experience_impression",
}
EVENT_METRICS: dict[str, tuple[str, Callable[[list[ExperienceImpression]], int]]] = {
    "eventCount": ("TYPE_INTEGER", lambda es: sum(e.count for e in es)),
}


def _known_dimensions() -> dict:
    known = {**DIMENSIONS, **EVENT_DIMENSIONS}
    if not EXPERIENCE_DIMENSION_REGISTERED:
        known.pop(EXPERIENCE_DIMENSION)
    return known


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
        dims = _names(body, "dimensions", _known_dimensions(), "dimension", 9)
        metrics = _names(body, "metrics", {**METRICS, **EVENT_METRICS}, "metric", 10)
        if not metrics and not dims:
            raise _Invalid("At least one dimension or metric is required.")
        scope = _scope(dims, metrics)
        dimension_filter = body.get("dimensionFilter")
        if dimension_filter is not None:
            _check_filter(dimension_filter, DIMENSIONS if scope == "sessions" else EVENT_DIMENSIONS)
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
    truncated = RETENTION_START is not None and first < RETENTION_START
    if truncated:
        first = RETENTION_START

    filter_key = json.dumps(dimension_filter, sort_keys=True) if dimension_filter is not None else None
    groups, keys = _grouped_once(req.world, scope, tuple(dims), tuple(metrics), filter_key, bool(body.get("keepEmptyRows")),
                                 first, min(last, today))
    metadata: dict = {"currencyCode": "EUR", "timeZone": GA4_TIME_ZONE}
    if CARDINALITY_LIMIT is not None and len(groups) > CARDINALITY_LIMIT:
        groups = _fold_into_other(groups, dims, CARDINALITY_LIMIT)
        keys = sorted(groups)
        metadata["dataLossFromOtherRow"] = True
    if SUBJECT_TO_THRESHOLDING and any(d.startswith("customUser:") for d in dims):
        metadata["subjectToThresholding"] = True
    if SAMPLED:  # int64 values travel as strings
        metadata["samplingMetadatas"] = [{"samplesReadCount": "500000", "samplingSpaceSize": "2000000"}]
    if truncated:
        metadata["dataTruncationReasons"] = [{"dataTruncationType": "DATA_TRUNCATION_TYPE_PROPERTY",
                                              "dataTruncationDate": RETENTION_START.isoformat()}]

    start = page_bounds(req.fault("overlap"), offset) if offset else offset  # the first page cannot drift
    metric_of = METRICS if scope == "sessions" else EVENT_METRICS
    answer: dict = {
        "dimensionHeaders": [{"name": d} for d in dims],
        "metricHeaders": [{"name": m, "type": metric_of[m][0]} for m in metrics],
    }
    page = [{"dimensionValues": [{"value": v} for v in key],
             "metricValues": [{"value": _number(metric_of[m][1](groups[key]))} for m in metrics]}
            for key in keys[start: start + limit]]
    if page:
        answer["rows"] = page
    if keys:
        answer["rowCount"] = len(keys)
    answer["metadata"] = metadata
    answer["kind"] = "analyticsData#runReport"
    return Response(200, answer, records_key="rows")


def _scope(dims: list[str], metrics: list[str]) -> str:
    """'sessions' or 'events': the rows a report aggregates; a mix of the two is incompatible."""
    event_only = [n for n in (*dims, *metrics) if n not in DIMENSIONS and n not in METRICS]
    session_only = [n for n in (*dims, *metrics) if n not in EVENT_DIMENSIONS and n not in EVENT_METRICS]
    if event_only and session_only:
        raise _Invalid(f"Please remove {', '.join(session_only)} to make the request compatible. The request's "
                       "dimensions & metrics are incompatible. To learn more, see https://ga-dev-tools.google/ga4/dimensions-metrics-explorer/")
    return "events" if event_only else "sessions"


def _number(value: int | float) -> str:
    """A metric value as GA4 writes it: a string, whole numbers without a decimal point."""
    if isinstance(value, float) and not value.is_integer():
        return repr(round(value, 2))
    return str(int(value))


def _check_filter(expression: Any, dimensions: dict) -> None:
    if not isinstance(expression, dict):
        raise _Invalid("dimensionFilter must be a FilterExpression.")
    if "andGroup" in expression or "orGroup" in expression:
        group = expression.get("andGroup") or expression.get("orGroup") or {}
        for inner in group.get("expressions") or []:
            _check_filter(inner, dimensions)
    elif "notExpression" in expression:
        _check_filter(expression["notExpression"], dimensions)
    elif "filter" in expression:
        name = (expression["filter"] or {}).get("fieldName")
        if name not in dimensions:
            raise _Invalid(f"Field {name} is not a valid dimension for this filter. For a list of valid dimensions and "
                           f"metrics, see {SCHEMA_URL}")
    else:
        raise _Invalid("A FilterExpression needs one of andGroup, orGroup, notExpression or filter.")


def _matches(expression: dict, row: Any, dimensions: dict) -> bool:
    if "andGroup" in expression:
        return all(_matches(e, row, dimensions) for e in expression["andGroup"].get("expressions") or [])
    if "orGroup" in expression:
        return any(_matches(e, row, dimensions) for e in expression["orGroup"].get("expressions") or [])
    if "notExpression" in expression:
        return not _matches(expression["notExpression"], row, dimensions)
    f = expression["filter"]
    value = dimensions[f["fieldName"]](row)
    if "inListFilter" in f:
        spec = f["inListFilter"]
        case = spec.get("caseSensitive", False)
        return (value if case else value.lower()) in {v if case else v.lower() for v in spec.get("values") or []}
    spec = f.get("stringFilter") or {}
    wanted, case = spec.get("value", ""), spec.get("caseSensitive", False)
    if not case:
        value, wanted = value.lower(), wanted.lower()
    match_type = spec.get("matchType", "EXACT")
    if match_type == "BEGINS_WITH":
        return value.startswith(wanted)
    if match_type == "ENDS_WITH":
        return value.endswith(wanted)
    if match_type == "CONTAINS":
        return wanted in value
    if match_type == "FULL_REGEXP":
        return re.fullmatch(wanted, value) is not None
    if match_type == "PARTIAL_REGEXP":
        return re.search(wanted, value) is not None
    return value == wanted


_GROUPING_LOCKS: dict[tuple, threading.Lock] = {}
_GROUPING_LOCKS_GUARD = threading.Lock()


def _grouped_once(world: World, *report: Any) -> tuple[dict, list]:
    """`_grouped`, built by one request at a time per report. A big world's grouping takes seconds of
    this process's one interpreter; a client that timed out and asks again, or several pages asked at
    once, wait for the grouping in progress and then read the cache, instead of each building it again
    beside the others (which made every answer slower, and timed-out retries pile up)."""
    with _GROUPING_LOCKS_GUARD:
        lock = _GROUPING_LOCKS.setdefault((id(world), *report), threading.Lock())
    with lock:
        return _grouped(world, *report)


@lru_cache(maxsize=16)
def _grouped(world: World, scope: str, dims: tuple[str, ...], metrics: tuple[str, ...], filter_key: str | None,
             keep_empty_rows: bool, first: date, last: date) -> tuple[dict, list]:
    """The rows of [first, last] grouped by the dimensions, and the sorted keys: once per report, not per page."""
    rows: list = world.sessions if scope == "sessions" else world.experience_impressions
    dimensions = DIMENSIONS if scope == "sessions" else EVENT_DIMENSIONS
    metric_of = METRICS if scope == "sessions" else EVENT_METRICS
    expression = json.loads(filter_key) if filter_key else None
    groups: dict[tuple[str, ...], list] = defaultdict(list)
    for row in rows:
        if first <= row.date <= last and (expression is None or _matches(expression, row, dimensions)):
            groups[tuple(dimensions[d](row) for d in dims)].append(row)
    if not keep_empty_rows and metrics:
        groups = defaultdict(list, {k: v for k, v in groups.items() if any(metric_of[m][1](v) for m in metrics)})
    return dict(groups), sorted(groups)


def _fold_into_other(groups: dict[tuple[str, ...], list[WebSession]], dims: list[str], limit: int) -> dict:
    """Keep the `limit - 1` biggest rows; the rest become one `(other)` row per date (if date is a dimension)."""
    ranked = sorted(groups, key=lambda k: (-len(groups[k]), k))
    kept = {k: groups[k] for k in ranked[: max(0, limit - 1)]}
    for key in ranked[max(0, limit - 1):]:
        other = tuple(v if d == "date" else OTHER for d, v in zip(dims, key, strict=True))
        kept.setdefault(other, []).extend(groups[key])
    return kept
