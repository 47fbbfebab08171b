"""Google Analytics 4 Data API `runReport`: campaign-daily and identified-user-daily reports.

POST {base}/properties/{id}:runReport with a Bearer token. Paging is offset/limit in the body
until `offset >= rowCount` (the server silently caps `limit` at 250,000, so a short page says
nothing). An empty report has neither `rows` nor `rowCount`. Every value is a string, cast by
the declared metric type. Dates are in the property's time zone, recorded beside each row, as
are thresholding and `(other)`-row data loss: surfaced, never dropped. `last_metadata` keeps the
last report's metadata for callers.

Value and experiments, per identified user (the user-scoped custom dimension holding the site's
user id) and date: `user_value_days` has key events, transactions and purchase revenue (rows
whose metrics are all zero are not sent: keepEmptyRows is false); `user_experiences` counts the
`experience_impression` events of GA4's experiment integration per `exp_variant_string` (an
event-scoped custom dimension). A property without that integration has no such dimension: GA4
answers 400 naming it, and the stream is empty, not failed.

The offset advances by the rows of a page that the previous page did not hold (a report's rows
are unique by their dimension values), not by the page length: if the server's rows drift
between pages, a page that starts early repeats rows (the loader de-duplicates on the key)
instead of pushing the next offset past rows never read. Only one page of keys is kept, so this
covers drifts up to a page long.

Pages are decoded into Arrow columns (`connectors/columnar.py`): a row of a big report is never a
Python object; a page the columnar path does not read exactly as `row_from_api` does goes to it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from connectors.columnar import ArrowBody, Irregular, require_matches, require_valid, struct_fields
from connectors.http import ApiClient, ApiError, ConfigError, SchemaError, validate_base_url
from connectors.pages import Prefetch
from connectors.records import require
from connectors.sources import Setting, Source
from connectors.streams import StreamSpec, Window, spec_by_name

SOURCE = "ga4"
DEFAULT_BASE_URL = "https://analyticsdata.googleapis.com/v1beta"
DECLARATION = Source("ga4", "Google Analytics 4 Data API", "connectors.ga4:Ga4Client", (
    Setting("GA4_PROPERTY_ID", "property_id", example="123456789", help="numeric property id (Admin > Property details)"),
    Setting("GA4_ACCESS_TOKEN", "access_token", help="OAuth2 access token, scope analytics.readonly"),
    Setting("GA4_USER_ID_DIMENSION", "user_id_dimension", example="customUser:site_user_id",
            help="user-scoped custom dimension holding the site's user id"),
    Setting("GA4_API_URL", "base_url", required=False, example=DEFAULT_BASE_URL),
), "connectors.sandbox.api_ga4")
DEFAULT_PAGE_SIZE = 25_000  # the pages after the first are fetched together, ROWS_AHEAD rows at a time
# Rows of pages fetched ahead at most: when rows were parsed into dicts (~2 KB of Python objects
# each), 10 pages of 100,000 rows held 2.3 GB (measured on a 1.24M-row report); 4 pages of 25,000
# read it in 390 MB, and faster. Pages are now decoded into Arrow columns, far smaller, but a page
# the columnar path hands to row_from_api is still dicts. A client given bigger pages fetches fewer.
ROWS_AHEAD = 100_000
MAX_PAGE_SIZE = 250_000  # the server's cap on `limit`
ENDPOINT = "runReport"

# API metric name -> column
METRICS = {
    "sessions": "sessions",
    "engagedSessions": "engaged_sessions",
    "screenPageViews": "screen_page_views",
    "userEngagementDuration": "user_engagement_duration",
    "activeUsers": "active_users",
}
_METRIC_FIELDS = [
    ("sessions", pa.int64()),
    ("engaged_sessions", pa.int64()),
    ("screen_page_views", pa.int64()),
    ("active_users", pa.int64()),
    ("user_engagement_duration", pa.float64()),
]
_FLOAT_COLUMNS = frozenset({"user_engagement_duration"})
VALUE_METRICS = {
    "keyEvents": "key_events",
    "transactions": "transactions",
    "purchaseRevenue": "purchase_revenue",
}
EXPERIENCE_DIMENSION = "customEvent:exp_variant_string"  # GA4's experiment integration, registered event-scoped
EXPERIENCE_EVENT = "experience_impression"
_META_FIELDS = [
    ("property_time_zone", pa.string()),
    ("subject_to_thresholding", pa.bool_()),
    ("data_loss_from_other_row", pa.bool_()),
]

CAMPAIGN_DAILY = StreamSpec(
    SOURCE, "campaign_daily",
    pa.schema([("date", pa.date32()), ("campaign", pa.string()), ("new_vs_returning", pa.string()),
               *_METRIC_FIELDS, *_META_FIELDS]),
    ("date", "campaign", "new_vs_returning"), strategy="window", window_column="date",
    description="GA4 sessions per property-local date x session campaign (raw spelling) x new/returning",
)
USER_DAILY = StreamSpec(
    SOURCE, "user_daily",
    pa.schema([("date", pa.date32()), ("campaign", pa.string()), ("user_id", pa.string()),
               *_METRIC_FIELDS, *_META_FIELDS]),
    ("date", "campaign", "user_id"), strategy="window", window_column="date",
    description="GA4 sessions per date x session campaign x the site's user id (a user-scoped custom dimension); "
                "'(not set)' is anonymous traffic, '(other)' rows are kept",
)

USER_VALUE_DAYS = StreamSpec(
    SOURCE, "user_value_days",
    pa.schema([("date", pa.date32()), ("user_id", pa.string()), ("key_events", pa.int64()), ("transactions", pa.int64()),
               ("purchase_revenue", pa.float64()), *_META_FIELDS]),
    ("date", "user_id"), strategy="window", window_column="date",
    description="GA4 key events, transactions and purchase revenue per date x the site's user id; days without any "
                "are absent; '(not set)' is anonymous traffic",
)
USER_EXPERIENCES = StreamSpec(
    SOURCE, "user_experiences",
    pa.schema([("date", pa.date32()), ("user_id", pa.string()), ("exp_variant_string", pa.string()),
               ("impressions", pa.int64()), *_META_FIELDS]),
    ("date", "user_id", "exp_variant_string"), strategy="window", window_column="date",
    description="experience_impression events (GA4's experiment integration) per date x the site's user id x "
                "exp_variant_string ('<experiment id>-<variant id>'); empty for a property without the integration",
)

_VALUES = pa.list_(pa.struct([("value", pa.string())]))
# the metadata's plain fields; any other (samplingMetadatas, dataTruncationReasons) is read by json:
# Arrow infers undeclared fields' types, and would read a date-like text as a timestamp
_PLAIN_METADATA = pa.struct([("currencyCode", pa.string()), ("timeZone", pa.string()), ("emptyReason", pa.string()),
                             ("subjectToThresholding", pa.bool_()), ("dataLossFromOtherRow", pa.bool_())])
# a runReport page as Arrow decodes it (connectors/columnar.py)
REPORT_PAGE = pa.schema([
    ("dimensionHeaders", pa.list_(pa.struct([("name", pa.string())]))),
    ("metricHeaders", pa.list_(pa.struct([("name", pa.string()), ("type", pa.string())]))),
    ("rows", pa.list_(pa.struct([("dimensionValues", _VALUES), ("metricValues", _VALUES)]))),
    ("rowCount", pa.int64()),
    ("metadata", _PLAIN_METADATA),
])
ROW_FIELDS_READ = {"dimensionValues", "metricValues"}  # what row_from_api reads

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(:[A-Za-z0-9_]+)?$")
_USER = "{user}"  # stands for the configured user id dimension
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Report:
    """What one stream asks runReport for."""

    dimensions: tuple[tuple[str, str], ...]  # (API dimension, column), in request order
    metrics: tuple[tuple[str, str], ...]  # (API metric, column)
    float_columns: frozenset[str] = frozenset()
    dimension_filter: dict | None = None
    optional_dimension: str | None = None  # a property without it answers 400 naming it: the stream is then empty


_SESSION_METRICS = tuple(METRICS.items())
REPORTS = {
    "campaign_daily": _Report((("date", "date"), ("sessionCampaignName", "campaign"), ("newVsReturning", "new_vs_returning")),
                              _SESSION_METRICS, _FLOAT_COLUMNS),
    "user_daily": _Report((("date", "date"), ("sessionCampaignName", "campaign"), (_USER, "user_id")),
                          _SESSION_METRICS, _FLOAT_COLUMNS),
    "user_value_days": _Report((("date", "date"), (_USER, "user_id")), tuple(VALUE_METRICS.items()),
                               frozenset({"purchase_revenue"})),
    "user_experiences": _Report(
        (("date", "date"), (_USER, "user_id"), (EXPERIENCE_DIMENSION, "exp_variant_string")), (("eventCount", "impressions"),),
        dimension_filter={"filter": {"fieldName": "eventName", "stringFilter": {"matchType": "EXACT", "value": EXPERIENCE_EVENT}}},
        optional_dimension=EXPERIENCE_DIMENSION,
    ),
}


@dataclass
class Ga4Client(ApiClient):
    """Build with `from_settings` (validates everything); the constructor trusts its arguments."""

    property_id: str = ""
    access_token: str = field(default="", repr=False)
    user_id_dimension: str = "customUser:site_user_id"
    page_size: int = DEFAULT_PAGE_SIZE
    last_metadata: dict[str, Any] = field(default_factory=dict, repr=False)

    source = SOURCE
    STREAMS = (CAMPAIGN_DAILY, USER_DAILY, USER_VALUE_DAYS, USER_EXPERIENCES)
    # GA4 allows a standard property 10 concurrent requests (Analytics 360: 50); every report and page shares them
    CONCURRENCY = 10
    WORKERS = 10

    def account(self) -> str:
        return f"{self.base_url} property {self.property_id}"  # GA4's quotas are the property's

    @classmethod
    def from_settings(
        cls,
        property_id: str | None,
        access_token: str | None,
        user_id_dimension: str | None = None,
        base_url: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        **kw: Any,
    ) -> Ga4Client:
        property_id = (property_id or "").strip()
        if not property_id.isdigit():
            raise ConfigError("GA4_PROPERTY_ID must be the numeric property id (Admin > Property details)")
        if not (access_token or "").strip():
            raise ConfigError("GA4_ACCESS_TOKEN is empty: set it to an OAuth2 access token with analytics.readonly")
        user_id_dimension = (user_id_dimension or "customUser:site_user_id").strip()
        if not _NAME.match(user_id_dimension):
            raise ConfigError(
                f"GA4_USER_ID_DIMENSION must be a dimension API name like customUser:site_user_id (got {user_id_dimension!r})"
            )
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ConfigError(f"GA4 page size must be between 1 and {MAX_PAGE_SIZE} (got {page_size})")
        return cls(
            base_url=validate_base_url(base_url, "GA4_API_URL", DEFAULT_BASE_URL),
            property_id=property_id,
            access_token=access_token.strip(),
            user_id_dimension=user_id_dimension,
            page_size=page_size,
            **kw,
        )

    # --- the API's dialect ------------------------------------------------------------
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    def secrets(self) -> tuple[str, ...]:
        return (self.access_token,)

    def error_message(self, body: Any, response) -> str:
        """google.rpc.Status: {"error": {"code", "message", "status"}} -> "STATUS: message"."""
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            status = error.get("status")
            return f"{status}: {error['message']}" if isinstance(status, str) and status else error["message"]
        return super().error_message(body, response)

    # --- streams ----------------------------------------------------------------------
    def dimensions(self, stream: str) -> list[tuple[str, str]]:
        """(API dimension, column) for a stream, in request order."""
        spec_by_name(self.STREAMS, stream)  # KeyError naming the known streams
        return [(self.user_id_dimension if d == _USER else d, column) for d, column in REPORTS[stream].dimensions]

    def read(self, stream: str, window: Window) -> Iterator[list[dict] | pa.Table]:
        dimensions = self.dimensions(stream)
        report = REPORTS[stream]
        limit = max(1, min(self.page_size, MAX_PAGE_SIZE))
        request = {
            "dateRanges": [{"startDate": window.start.isoformat(), "endDate": window.last_day.isoformat()}],
            "dimensions": [{"name": d} for d, _ in dimensions],
            "metrics": [{"name": m} for m, _ in report.metrics],
            "orderBys": [{"dimension": {"dimensionName": d}} for d, _ in dimensions],
            "limit": limit,
            "keepEmptyRows": False,
        }
        if report.dimension_filter:
            request["dimensionFilter"] = report.dimension_filter
        url = f"{self.base_url}/properties/{self.property_id}:runReport"
        key_columns = [column for _, column in dimensions]
        self.last_metadata = {}
        with Prefetch(lambda at: self.request("POST", url, endpoint=ENDPOINT, json={**request, "offset": at},
                                              columnar=REPORT_PAGE),
                      max(1, min(self.workers, ROWS_AHEAD // limit)), name="ga4-pages") as ahead:
            yield from self._walk(stream, report, dimensions, key_columns, limit, ahead)

    def _walk(self, stream: str, report: _Report, dimensions: list[tuple[str, str]], key_columns: list[str], limit: int,
              ahead: Prefetch) -> Iterator[list[dict] | pa.Table]:
        """The report's pages in order; after the first, its rowCount predicts the other offsets (fetched ahead)."""
        previous: pa.Table | None = None  # the last page's keys
        offset = 0
        while True:
            try:
                body = ahead.take(offset)
            except ApiError as exc:
                if offset == 0 and self._lacks(report, exc):
                    log.warning("ga4.%s: the property has no %s dimension (no experiment integration): nothing to read",
                                stream, report.optional_dimension)
                    return
                raise
            records = self._records(body, stream, dimensions, report)
            self.page_done(stream, len(records))
            if len(records):
                yield records
                keys = _keys(records, key_columns)
                fresh = keys if previous is None else keys.join(previous, keys=key_columns, join_type="left anti")
                offset += max(fresh.num_rows, 1)
                previous = keys
            row_count = body.value("rowCount") if isinstance(body, ArrowBody) else body.get("rowCount", 0)
            if row_count is None and isinstance(body, ArrowBody):  # absent or JSON null: only json tells which
                row_count = body.python().get("rowCount", 0)
            if not isinstance(row_count, int | str) or not str(row_count).isdigit():
                raise SchemaError(SOURCE, stream, "rowCount", f"not a count ({row_count!r})")
            if not len(records) or offset >= int(row_count):
                return
            if offset == limit and len(records) == limit:  # a whole first page: the others start every `limit` rows
                ahead.predict(range(limit, int(row_count), limit))

    def _records(self, body: Any, stream: str, dimensions: list[tuple[str, str]], report: _Report) -> list[dict] | pa.Table:
        """A page's records: an Arrow table when the page was decoded into columns and reads exactly
        as row_from_api would read it (see connectors/columnar.py), else a list of dicts."""
        if isinstance(body, ArrowBody):
            try:
                return self._columns_of(body, stream, dimensions, report)
            except (Irregular, pa.ArrowException):  # the builders read it, or name what is wrong
                body = body.python()
        if not isinstance(body, dict):
            raise SchemaError(SOURCE, stream, "report", f"not a JSON object ({type(body).__name__})")
        metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
        flags = self._remember(metadata)
        rows = body.get("rows") or []  # absent on an empty report or past the end
        if not isinstance(rows, list):
            raise SchemaError(SOURCE, stream, "rows", f"of type {type(rows).__name__}")
        if not rows:
            return []
        columns = self._columns(body, stream, dimensions, report)
        return [row_from_api(row, columns, flags, stream) for row in self.watch_fields(stream, rows)]

    def _columns_of(self, body: ArrowBody, stream: str, dimensions: list[tuple[str, str]], report: _Report) -> pa.Table:
        if body.table.schema.field("metadata").type.equals(_PLAIN_METADATA):  # absent fields are null: drop them
            metadata = {k: v for k, v in (body.value("metadata") or {}).items() if v is not None}
        else:  # fields Arrow would have had to guess the types of: exactly as json reads them
            metadata = body.python().get("metadata")
        flags = self._remember(metadata if isinstance(metadata, dict) else {})
        rows = body.items("rows")  # absent (null) on an empty report or past the end: no rows
        schema = spec_by_name(self.STREAMS, stream).schema
        if not len(rows):
            return schema.empty_table()
        headers = {name: body.value(name) for name in ("dimensionHeaders", "metricHeaders")}
        table = report_columns(rows, self._columns(headers, stream, dimensions, report), flags, schema)
        self.watch_columns(stream, struct_fields(rows), ROW_FIELDS_READ)
        return table

    UNTRUSTED_FACTS = ("samplingMetadatas", "dataTruncationReasons")

    def run_facts(self, stream: str) -> dict[str, Any]:
        """Thresholding, `(other)`-row loss, sampling and truncation of the last report: never silently trusted."""
        facts = {key: str(self.last_metadata[key]) for key in ("subjectToThresholding", "dataLossFromOtherRow", "timeZone")
                 if key in self.last_metadata}
        sampling = self.last_metadata.get("samplingMetadatas")
        facts["sampled"] = str(bool(sampling))
        if sampling:
            facts["samplingMetadatas"] = json.dumps(sampling, sort_keys=True)
            log.warning("ga4.%s: the report is sampled (%s): its figures are estimates", stream, facts["samplingMetadatas"])
        truncation = self.last_metadata.get("dataTruncationReasons")
        if truncation:
            facts["dataTruncationReasons"] = json.dumps(truncation, sort_keys=True)
            log.warning("ga4.%s: the report was truncated (%s)", stream, facts["dataTruncationReasons"])
        return facts

    @staticmethod
    def _lacks(report: _Report, exc: ApiError) -> bool:
        """A 400 naming the report's optional dimension: the property does not have it."""
        return bool(report.optional_dimension) and exc.status == 400 and report.optional_dimension in (exc.api_message or "")

    def _remember(self, metadata: dict) -> dict[str, Any]:
        """Flags of this page, OR-ed into `last_metadata` over the pages of one report."""
        flags = {
            "property_time_zone": metadata.get("timeZone") if isinstance(metadata.get("timeZone"), str) else None,
            "subject_to_thresholding": metadata.get("subjectToThresholding") is True,
            "data_loss_from_other_row": metadata.get("dataLossFromOtherRow") is True,
        }
        previous = self.last_metadata
        self.last_metadata = {
            **metadata,
            # any page sampled or truncated: the report is (kept over the pages of one report)
            "samplingMetadatas": metadata.get("samplingMetadatas") or previous.get("samplingMetadatas"),
            "dataTruncationReasons": metadata.get("dataTruncationReasons") or previous.get("dataTruncationReasons"),
            "timeZone": flags["property_time_zone"],
            "subjectToThresholding": flags["subject_to_thresholding"] or previous.get("subjectToThresholding", False),
            "dataLossFromOtherRow": flags["data_loss_from_other_row"] or previous.get("dataLossFromOtherRow", False),
        }
        return flags

    @staticmethod
    def _columns(body: dict, stream: str, dimensions: list[tuple[str, str]], report: _Report) -> dict[str, Any]:
        """Where each wanted dimension and metric sits in a row, and each metric's declared type."""
        dim_headers = require(body, "dimensionHeaders", SOURCE, stream, list)
        metric_headers = require(body, "metricHeaders", SOURCE, stream, list)
        dim_names = [require(h, "name", SOURCE, stream, str) for h in dim_headers]
        metric_names = [require(h, "name", SOURCE, stream, str) for h in metric_headers]
        columns: dict[str, Any] = {"dims": [], "metrics": []}
        for api_name, column in dimensions:
            if api_name not in dim_names:
                raise SchemaError(SOURCE, stream, f"dimensionHeaders.{api_name}")
            columns["dims"].append((dim_names.index(api_name), api_name, column))
        for api_name, column in report.metrics:
            if api_name not in metric_names:
                raise SchemaError(SOURCE, stream, f"metricHeaders.{api_name}")
            i = metric_names.index(api_name)
            metric_type = metric_headers[i].get("type") or "TYPE_FLOAT"
            columns["metrics"].append((i, api_name, column, metric_type))
        columns["n_dims"], columns["n_metrics"] = len(dim_names), len(metric_names)
        columns["floats"] = report.float_columns
        return columns


def _values(row: dict, key: str, expected: int, stream: str) -> list[str]:
    values = row.get(key) if type(row) is dict else None
    if type(values) is list and len(values) == expected:
        try:  # the hot path: every item a {"value": str}; anything else is named below
            out = [item["value"] for item in values]
            if all(type(v) is str for v in out):
                return out
        except (TypeError, KeyError):
            pass
    values = require(row, key, SOURCE, stream, list)
    if len(values) != expected:
        raise SchemaError(SOURCE, stream, key, f"of length {len(values)} where the headers announce {expected}")
    out = []
    for item in values:
        if not isinstance(item, dict):
            raise SchemaError(SOURCE, stream, f"{key}.value", f"of type {type(item).__name__}")
        out.append(require(item, "value", SOURCE, stream, str))
    return out


def _metric(text: str, metric_type: str, column: str, stream: str, floats: frozenset[str]) -> int | float:
    try:
        number = int(text) if metric_type == "TYPE_INTEGER" else float(text)
    except ValueError:
        raise SchemaError(SOURCE, stream, column, f"not a number ({text[:40]!r})") from None
    if metric_type == "TYPE_MILLISECONDS":
        number = number / 1000.0
    if column in floats:
        return float(number)
    if isinstance(number, float):
        if not number.is_integer():
            raise SchemaError(SOURCE, stream, column, f"not a whole number ({text[:40]!r})")
        number = int(number)
    return number


def row_from_api(row: dict, columns: dict[str, Any], flags: dict[str, Any], stream: str) -> dict:
    """One runReport row -> one record with exactly the stream's columns."""
    dims = _values(row, "dimensionValues", columns["n_dims"], stream)
    metrics = _values(row, "metricValues", columns["n_metrics"], stream)
    record: dict[str, Any] = {}
    for i, _api_name, column in columns["dims"]:
        record[column] = dims[i]
    record["date"] = _date(record["date"], stream)
    for i, _api_name, column, metric_type in columns["metrics"]:
        record[column] = _metric(metrics[i], metric_type, column, stream, columns["floats"])
    record.update(flags)
    return record


def _date(text: str, stream: str) -> date:
    try:
        return _parse_date(text)
    except ValueError:
        raise SchemaError(SOURCE, stream, "date", f"not YYYYMMDD ({text[:40]!r})") from None


@lru_cache(maxsize=4096)
def _parse_date(text: str) -> date:  # a report has few distinct dates and strptime is slow
    return datetime.strptime(text, "%Y%m%d").date()


def _keys(records: list[dict] | pa.Table, key_columns: list[str]) -> pa.Table:
    """A page's distinct keys, as a table (pages of either form compare with a join)."""
    if isinstance(records, pa.Table):
        keys = records.select(key_columns)
    else:
        keys = pa.table({c: [r[c] for r in records] for c in key_columns})
    return keys.group_by(key_columns).aggregate([]) if keys.num_rows else keys


_INTEGER = r"^-?[0-9]+$"  # what int() and float() agree on, and Arrow's casts parse the same way
_DECIMAL = r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$"


def _value_columns(values: pa.Array, expected: int) -> list[pa.Array]:
    """The `value` texts of each position of `dimensionValues` or `metricValues`, when every row has
    `expected` items of {"value": text}; else Irregular."""
    require_valid(values)
    if not pc.all(pc.equal(pc.list_value_length(values), expected)).as_py():
        raise Irregular("a row has another number of values than the headers announce")
    require_valid(require_valid(pc.list_flatten(values)).field("value"))
    return [pc.list_element(values, i).field("value") for i in range(expected)]


def report_columns(rows: pa.StructArray, columns: dict[str, Any], flags: dict[str, Any], schema: pa.Schema) -> pa.Table:
    """`row_from_api` over a whole page of rows at once, in Arrow; raises Irregular for a page it
    would not read exactly as row_from_api does."""
    require_valid(rows)
    dims = _value_columns(rows.field("dimensionValues"), columns["n_dims"])
    metrics = _value_columns(rows.field("metricValues"), columns["n_metrics"])
    out: dict[str, pa.Array] = {column: dims[i] for i, _api_name, column in columns["dims"]}
    text = require_matches(out["date"], r"^[1-9][0-9]{7}$")  # years from 1000: Arrow reads year 0, Python does not
    # YYYYMMDD -> YYYY-MM-DD: Arrow's ISO date cast rejects impossible dates as strptime does
    iso = pc.binary_join_element_wise(pc.utf8_slice_codeunits(text, 0, 4), pc.utf8_slice_codeunits(text, 4, 6),
                                      pc.utf8_slice_codeunits(text, 6, 8), "-")
    out["date"] = pc.cast(iso, pa.date32())
    for i, _api_name, column, metric_type in columns["metrics"]:
        value = metrics[i]
        if metric_type == "TYPE_INTEGER":
            number = pc.cast(require_matches(value, _INTEGER), pa.int64())
            out[column] = pc.cast(number, pa.float64()) if column in columns["floats"] else number
            continue
        number = pc.cast(require_matches(value, _DECIMAL), pa.float64())
        if metric_type == "TYPE_MILLISECONDS":
            number = pc.divide(number, 1000.0)
        if column not in columns["floats"]:
            if not pc.all(pc.equal(pc.floor(number), number)).as_py():
                raise Irregular("a whole-number metric has a fraction")
            number = pc.cast(number, pa.int64())
        out[column] = number
    n = len(rows)
    for name, value in flags.items():
        out[name] = pa.repeat(pa.scalar(value, schema.field(name).type), n)
    return pa.table([out[name] for name in schema.names], schema=schema)
