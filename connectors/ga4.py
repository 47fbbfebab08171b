"""Google Analytics 4 Data API `runReport`: campaign-daily and identified-user-daily reports.

POST {base}/properties/{id}:runReport with a Bearer token. Offset paging in the body until
`offset >= rowCount` (the server silently caps `limit` at 250,000, so a short page says nothing).
An empty report has neither `rows` nor `rowCount`. Every value is a string, cast by the declared
metric type. Dates are the property's own time zone, recorded beside each row, as are
thresholding and `(other)`-row data loss: surfaced, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterator

import pyarrow as pa

from connectors.http import ApiClient, SchemaError, require, validate_base_url
from connectors.streams import StreamSpec, Window

DEFAULT_BASE_URL = "https://analyticsdata.googleapis.com/v1beta"
MAX_LIMIT = 250_000
METRICS = ("sessions", "engagedSessions", "screenPageViews", "userEngagementDuration", "activeUsers")
METRIC_COLUMNS = {"sessions": "sessions", "engagedSessions": "engaged_sessions", "screenPageViews": "screen_page_views",
                  "userEngagementDuration": "user_engagement_duration", "activeUsers": "active_users"}
_METRIC_FIELDS = [("sessions", pa.int64()), ("engaged_sessions", pa.int64()), ("screen_page_views", pa.int64()),
                  ("user_engagement_duration", pa.float64()), ("active_users", pa.int64())]
_META_FIELDS = [("property_time_zone", pa.string()), ("subject_to_thresholding", pa.bool_()),
                ("data_loss_from_other_row", pa.bool_())]

CAMPAIGN_DAILY = StreamSpec(
    "ga4", "campaign_daily",
    pa.schema([("date", pa.date32()), ("campaign", pa.string()), ("new_vs_returning", pa.string()), *_METRIC_FIELDS, *_META_FIELDS]),
    ("date", "campaign", "new_vs_returning"), strategy="window", window_column="date",
    description="GA4 sessions per property-local date x session campaign x new/returning",
)
USER_DAILY = StreamSpec(
    "ga4", "user_daily",
    pa.schema([("date", pa.date32()), ("campaign", pa.string()), ("user_id", pa.string()), *_METRIC_FIELDS, *_META_FIELDS]),
    ("date", "campaign", "user_id"), strategy="window", window_column="date",
    description="GA4 sessions per date x campaign x the site's user id (user-scoped custom dimension); '(not set)' is anonymous",
)


def _cast(value: str, metric_type: str, column: str) -> Any:
    try:
        if metric_type == "TYPE_INTEGER":
            return int(value)
        return float(value)
    except (TypeError, ValueError):
        raise SchemaError("ga4", "report", column, f"not a number ({value!r})") from None


@dataclass
class Ga4Client(ApiClient):
    property_id: str = ""
    access_token: str = ""
    user_id_dimension: str = "customUser:site_user_id"
    page_size: int = 100_000
    last_metadata: dict = field(default_factory=dict)

    source = "ga4"
    STREAMS = (CAMPAIGN_DAILY, USER_DAILY)

    @classmethod
    def from_settings(cls, property_id: str, access_token: str, user_id_dimension: str, base_url: str | None = None, **kw: Any) -> Ga4Client:
        return cls(base_url=validate_base_url(base_url, "GA4_API_URL", DEFAULT_BASE_URL), property_id=property_id,
                   access_token=access_token, user_id_dimension=user_id_dimension, **kw)

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    def secrets(self) -> tuple[str, ...]:
        return (self.access_token,)

    def error_message(self, body: Any, response) -> str:
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            return f"{error.get('status', '')}: {error.get('message', '')}".strip(": ")
        return super().error_message(body, response)

    def read(self, stream: str, window: Window) -> Iterator[list[dict]]:
        third = {"campaign_daily": ("newVsReturning", "new_vs_returning"), "user_daily": (self.user_id_dimension, "user_id")}[stream]
        dimensions = ["date", "sessionCampaignName", third[0]]
        offset, limit = 0, min(self.page_size, MAX_LIMIT)
        while True:
            body = self.request("POST", f"{self.base_url}/properties/{self.property_id}:runReport", endpoint="runReport", json={
                "dateRanges": [{"startDate": window.start.isoformat(), "endDate": window.last_day.isoformat()}],
                "dimensions": [{"name": d} for d in dimensions],
                "metrics": [{"name": m} for m in METRICS],
                "orderBys": [{"dimension": {"dimensionName": d}} for d in dimensions],
                "offset": offset, "limit": limit, "keepEmptyRows": False,
            }) or {}
            metadata = body.get("metadata") or {}
            self.last_metadata = metadata
            types = {h.get("name"): h.get("type", "TYPE_FLOAT") for h in body.get("metricHeaders", [])}
            rows = body.get("rows") or []
            records = [self.from_api(r, dimensions, types, third[1], metadata, stream) for r in rows]
            self.page_done(stream, len(records))
            if records:
                yield records
            offset += len(rows)
            if not rows or offset >= int(body.get("rowCount") or 0):
                return

    def from_api(self, row: dict, dimensions: list[str], types: dict, third_column: str, metadata: dict, stream: str) -> dict:
        dims = require(row, "dimensionValues", "ga4", stream, list)
        values = require(row, "metricValues", "ga4", stream, list)
        if len(dims) != len(dimensions) or len(values) != len(METRICS):
            raise SchemaError("ga4", stream, "dimensionValues/metricValues", "of the wrong length")
        dim = [require(d, "value", "ga4", stream, str) for d in dims]
        try:
            day = datetime.strptime(dim[0], "%Y%m%d").date()
        except ValueError:
            raise SchemaError("ga4", stream, "date", f"not YYYYMMDD ({dim[0]!r})") from None
        record: dict[str, Any] = {"date": day, "campaign": dim[1], third_column: dim[2]}
        for metric, value in zip(METRICS, values):
            record[METRIC_COLUMNS[metric]] = _cast(require(value, "value", "ga4", stream, str), types.get(metric, "TYPE_FLOAT"), metric)
        record["property_time_zone"] = metadata.get("timeZone")
        record["subject_to_thresholding"] = bool(metadata.get("subjectToThresholding", False))
        record["data_loss_from_other_row"] = bool(metadata.get("dataLossFromOtherRow", False))
        return record



