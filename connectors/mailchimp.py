"""Mailchimp Marketing API 3.0: sent campaigns, their reports, per-recipient activity and recipients,
and list members (reference data).

Wire format: base URL `https://<dc>.api.mailchimp.com/3.0` where `<dc>` is the
API key's suffix; HTTP Basic auth with any username and the key as password; `count` (at most
1000) / `offset` paging over `total_items`; errors as problem JSON (`title`, `detail`); 429 when
more than 10 connections are open, with no rate-limit headers (urllib3's backoff handles it).

Machine opens: Apple Mail Privacy Protection's proxy fetches every delivered email once, which
Mailchimp counts as an open. The report gives both figures (`opens.*` with them,
`opens.proxy_excluded_*` without); per-recipient activity is read with `filter_bots=true`, which
drops proxy and bot events (an activity item itself carries nothing that tells them apart), so
everything computed per person counts people's own opens and clicks only. Sent-to and the report
have no `filter_bots`.

Mailchimp allows 10 simultaneous connections per user (more is a 429) and documents no rate: every
client of one key in the process shares 10 request slots (`connectors.http.Gate`). Within them,
per-campaign and per-list reads (email activity, sent-to, contents, members) run on up to 10
workers and stream their pages as they arrive, and the pages of one collection after the first
are fetched ahead, their offsets known from its `total_items`. Email activity and sent-to, the
streams with millions of rows, decode their pages into Arrow columns (`connectors/columnar.py`).

A/B tests: an A/B split campaign's `ab_split_opts`, its report's per-group
`ab_split` and each recipient's `absplit_group` are kept as sent. A variate campaign tells only each
combination's recipient count (`variate_settings`); which combination a recipient got is on the wire
nowhere, so `variate_contents` keeps, per content of the campaign, the utm_content values its links
carry: the one way clicks and GA4 sessions tell combinations apart.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import requests

from connectors.columnar import ArrowBody, Irregular, blank_to_null, query, require_matches, require_valid, struct_fields
from connectors.http import ApiClient, ConfigError, SchemaError, validate_base_url
from connectors.pages import offset_pages
from connectors.records import observed_at, parse_ts, require_path
from connectors.sources import Setting, Source
from connectors.streams import StreamSpec, Window, spec_by_name

SOURCE = "mailchimp"
DECLARATION = Source("mailchimp", "Mailchimp Marketing API 3.0", "connectors.mailchimp:MailchimpClient", (
    Setting("MAILCHIMP_API_KEY", "api_key", help="<32 hex>-<dc>; the data center comes from the suffix"),
    Setting("MAILCHIMP_API_URL", "base_url", required=False, help="default https://<dc>.api.mailchimp.com/3.0"),
), "connectors.sandbox.api_mailchimp")
MAX_PAGE = 1000  # Mailchimp's ceiling for `count`
MAX_CONNECTIONS = 10  # simultaneous connections Mailchimp allows a user; one more is a 429
BASIC_USER = "anystring"  # Mailchimp ignores the username

TS = pa.timestamp("us", tz="UTC")


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(name, kind) for name, kind in fields])


CAMPAIGNS = StreamSpec(
    SOURCE, "campaigns",
    _schema(("id", pa.string()), ("web_id", pa.int64()), ("type", pa.string()), ("status", pa.string()),
            ("title", pa.string()), ("subject_line", pa.string()), ("list_id", pa.string()),
            ("create_time", TS), ("send_time", TS), ("emails_sent", pa.int64()), ("tracking_utm", pa.string()),
            ("variate_combinations", pa.string()), ("variate_winner", pa.string()),
            ("ab_split_opts", pa.string()), ("variate_settings", pa.string())),
    primary_key=("id",),
    description="Campaigns sent in the window; tracking_utm is tracking.google_analytics verbatim (the utm_campaign value); "
                "ab_split_opts (A/B split campaigns) and variate_settings (variate campaigns) as JSON, NULL otherwise.",
)
REPORTS = StreamSpec(
    SOURCE, "reports",
    _schema(("campaign_id", pa.string()), ("list_id", pa.string()), ("send_time", TS), ("emails_sent", pa.int64()),
            ("hard_bounces", pa.int64()), ("soft_bounces", pa.int64()), ("syntax_errors", pa.int64()),
            ("opens_total", pa.int64()), ("unique_opens", pa.int64()), ("open_rate", pa.float64()),
            ("proxy_excluded_opens", pa.int64()), ("proxy_excluded_unique_opens", pa.int64()),
            ("proxy_excluded_open_rate", pa.float64()),
            ("clicks_total", pa.int64()), ("unique_clicks", pa.int64()), ("unique_subscriber_clicks", pa.int64()),
            ("click_rate", pa.float64()), ("unsubscribed", pa.int64()), ("last_open", TS), ("last_click", TS),
            ("ab_split", pa.string()), ("observed_at", TS)),
    primary_key=("campaign_id",),
    reach="counters",
    description="Mailchimp's own per-campaign summary for campaigns sent in the window, as of the read (observed_at, "
                "the API's Date header); one listing request per 1000 sends, so it reaches past the engagement horizon. "
                "opens_total/unique_opens/open_rate count Apple Mail proxy (machine) opens, the proxy_excluded_* "
                "figures leave them out. "
                "ab_split is the per-group summary of an A/B split campaign as JSON ({a: {...}, b: {...}}), NULL otherwise.",
)
EMAIL_ACTIVITY = StreamSpec(
    SOURCE, "email_activity",
    _schema(("activity_id", pa.string()), ("campaign_id", pa.string()), ("list_id", pa.string()),
            ("email_id", pa.string()), ("email_address", pa.string()), ("action", pa.string()),
            ("timestamp", TS), ("url", pa.string()), ("bounce_type", pa.string()), ("ip", pa.string())),
    primary_key=("activity_id",),
    reach="engagement",
    description="One row per open, click or bounce since the window's `since`, for campaigns sent in the window, "
                "without machine (Apple proxy) opens and bot events (read with filter_bots=true). "
                "activity_id hashes (campaign_id, email_id, action, timestamp, url).",
)
RECIPIENTS = StreamSpec(
    SOURCE, "recipients",
    _schema(("campaign_id", pa.string()), ("email_id", pa.string()), ("email_address", pa.string()),
            ("status", pa.string()), ("list_id", pa.string()), ("absplit_group", pa.string())),
    primary_key=("campaign_id", "email_id"),
    description="Who each campaign sent in the window went to; status sent, hard or soft (bounce); absplit_group a, b "
                "or winner for A/B split campaigns, NULL otherwise.",
)
VARIATE_CONTENTS = StreamSpec(
    SOURCE, "variate_contents",
    _schema(("campaign_id", pa.string()), ("content_index", pa.int64()), ("content_label", pa.string()),
            ("link_utm_contents", pa.string())),
    primary_key=("campaign_id", "content_index"),
    description="Each content of a variate campaign sent in the window (GET /campaigns/{id}/content variate_contents, "
                "in order: a combination's content_description is its content_index) with the distinct utm_content "
                "values of its links as a sorted JSON array.",
)
LIST_MEMBERS = StreamSpec(
    SOURCE, "list_members",
    _schema(("list_id", pa.string()), ("id", pa.string()), ("email_address", pa.string()),
            ("unique_email_id", pa.string()), ("contact_id", pa.string()), ("status", pa.string()),
            ("timestamp_opt", TS), ("last_changed", TS)),
    primary_key=("list_id", "id"),
    cursor_column="last_changed",
    description="Members of every audience, all statuses; id is the subscriber hash (MD5 of the lower-cased email).",
)


# --- record builders (one per record type) ---------------------------------------------------
def _path(record: Any, path: str, stream: str, kind: type | tuple[type, ...] | None = None,
          required: bool = True, name: str | None = None) -> Any:
    return require_path(record, path, SOURCE, stream, kind, required, name)


def _int(record: Any, path: str, stream: str) -> int:
    return _path(record, path, stream, int)


def _float(record: Any, path: str, stream: str) -> float:
    return float(_path(record, path, stream, (int, float)))


def _ts(record: Any, path: str, stream: str, required: bool = True, name: str | None = None) -> datetime | None:
    text = _path(record, path, stream, str, required, name)
    try:
        value = parse_ts(text)
    except ValueError:
        raise SchemaError(SOURCE, stream, name or path, "not an ISO 8601 timestamp") from None
    if value is None and required:
        raise SchemaError(SOURCE, stream, name or path)
    return value


def _opt_str(record: Any, path: str, stream: str, name: str | None = None) -> str | None:
    return _path(record, path, stream, str, required=False, name=name)


def _json_object(record: Any, path: str, stream: str) -> str | None:
    """A nested object kept whole as compact JSON; NULL when absent or empty."""
    value = _path(record, path, stream, Mapping, required=False)
    return json.dumps(dict(value), sort_keys=True, separators=(",", ":")) if value else None


def campaign_from_api(c: Mapping[str, Any]) -> dict:
    s = "campaigns"
    combinations = _path(c, "variate_settings.combinations", s, list, required=False)
    return {
        "id": _path(c, "id", s, str),
        "web_id": _int(c, "web_id", s),
        "type": _path(c, "type", s, str),
        "status": _path(c, "status", s, str),
        "title": _opt_str(c, "settings.title", s),
        "subject_line": _opt_str(c, "settings.subject_line", s),
        "list_id": _opt_str(c, "recipients.list_id", s),
        "create_time": _ts(c, "create_time", s),
        "send_time": _ts(c, "send_time", s),
        "emails_sent": _int(c, "emails_sent", s),
        "tracking_utm": _opt_str(c, "tracking.google_analytics", s),  # verbatim: spaces and case matter downstream
        "variate_combinations": json.dumps(combinations, sort_keys=True, separators=(",", ":")) if combinations is not None else None,
        "variate_winner": _opt_str(c, "variate_settings.winning_combination_id", s) or None,
        "ab_split_opts": _json_object(c, "ab_split_opts", s),
        "variate_settings": _json_object(c, "variate_settings", s),
    }


def report_from_api(r: Mapping[str, Any], seen_at: datetime) -> dict:
    s = "reports"
    return {
        "campaign_id": _path(r, "id", s, str),
        "list_id": _opt_str(r, "list_id", s),
        "send_time": _ts(r, "send_time", s),
        "emails_sent": _int(r, "emails_sent", s),
        "hard_bounces": _int(r, "bounces.hard_bounces", s),
        "soft_bounces": _int(r, "bounces.soft_bounces", s),
        "syntax_errors": _int(r, "bounces.syntax_errors", s),
        "opens_total": _int(r, "opens.opens_total", s),
        "unique_opens": _int(r, "opens.unique_opens", s),
        "open_rate": _float(r, "opens.open_rate", s),
        "proxy_excluded_opens": _int(r, "opens.proxy_excluded_opens", s),
        "proxy_excluded_unique_opens": _int(r, "opens.proxy_excluded_unique_opens", s),
        "proxy_excluded_open_rate": _float(r, "opens.proxy_excluded_open_rate", s),
        "clicks_total": _int(r, "clicks.clicks_total", s),
        "unique_clicks": _int(r, "clicks.unique_clicks", s),
        "unique_subscriber_clicks": _int(r, "clicks.unique_subscriber_clicks", s),
        "click_rate": _float(r, "clicks.click_rate", s),
        "unsubscribed": _int(r, "unsubscribed", s),
        "last_open": _ts(r, "opens.last_open", s, required=False),  # "" when nobody opened
        "last_click": _ts(r, "clicks.last_click", s, required=False),
        "ab_split": _json_object(r, "ab_split", s),
        "observed_at": seen_at,
    }


def activity_id(campaign_id: str, email_id: str, action: str, timestamp: datetime, url: str | None) -> str:
    """The natural key of one activity item: never NULL, the same however the timestamp was spelled."""
    parts = (campaign_id, email_id, action, timestamp.astimezone(timezone.utc).isoformat(), url or "")
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()


def activity_from_api(e: Mapping[str, Any], campaign_id: str) -> list[dict]:
    """One recipient's `emails[]` entry flattened to a row per activity item (none if it has none)."""
    s = "email_activity"
    email_id = _path(e, "email_id", s, str)
    email_address = _path(e, "email_address", s, str)  # verbatim; normalising is dbt's job
    list_id = _opt_str(e, "list_id", s)
    items = _path(e, "activity", s, list)
    rows = []
    for i, a in enumerate(items):
        name = f"activity.{i}"
        if not isinstance(a, Mapping):
            raise SchemaError(SOURCE, s, name, f"of type {type(a).__name__}")
        action = _path(a, "action", s, str, name=f"{name}.action")
        ts = _ts(a, "timestamp", s, name=f"{name}.timestamp")
        url = _opt_str(a, "url", s, name=f"{name}.url") or None
        rows.append({
            "activity_id": activity_id(campaign_id, email_id, action, ts, url),
            "campaign_id": campaign_id, "list_id": list_id, "email_id": email_id, "email_address": email_address,
            "action": action, "timestamp": ts, "url": url,
            "bounce_type": _opt_str(a, "type", s, name=f"{name}.type") or None,
            "ip": _opt_str(a, "ip", s, name=f"{name}.ip") or None,
        })
    return rows


_TEXT = pa.string()
_ITEM = pa.struct([("action", _TEXT), ("timestamp", _TEXT), ("url", _TEXT), ("type", _TEXT), ("ip", _TEXT)])
# an email-activity page as Arrow decodes it (columnar.py); fields not declared here are inferred
ACTIVITY_PAGE = pa.schema([
    ("emails", pa.list_(pa.struct([("email_id", _TEXT), ("email_address", _TEXT), ("list_id", _TEXT),
                                   ("activity", pa.list_(_ITEM))]))),
    ("total_items", pa.int64()),
])
ACTIVITY_FIELDS_READ = {"email_id", "email_address", "list_id", "activity"}  # what activity_from_api reads
# the timestamps the columnar path parses itself (years from 1000: Arrow reads year 0, Python does
# not); any other spelling goes to parse_ts
_ISO_UTC_OFFSET = r"^[1-9]\d{3}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:?\d{2})$"
# activity_id() in SQL: SHA-1 of the same parts, the timestamp as Python's isoformat() of UTC spells it
_ACTIVITY_IDS = r"""
    select sha1(concat_ws(chr(31), ?::varchar, email_id, action,
        strftime(utc, '%Y-%m-%dT%H:%M:%S') || case when microsecond(utc) % 1000000 <> 0
                                                  then strftime(utc, '.%f') else '' end || '+00:00',
        coalesce(url, ''))) as activity_id
    from items"""


def activity_columns(emails: pa.StructArray, campaign_id: str) -> pa.Table:
    """`activity_from_api` over a whole page of `emails[]` at once, in Arrow (see connectors/columnar.py);
    raises Irregular for a page it would not read exactly as the builder does."""
    require_valid(emails)
    activity = require_valid(emails.field("activity"))
    items = require_valid(pc.list_flatten(activity))
    owner = pc.list_parent_indices(activity)
    email_id = require_valid(emails.field("email_id")).take(owner)
    timestamp = pc.cast(require_matches(require_valid(items.field("timestamp")), _ISO_UTC_OFFSET), TS)
    url = blank_to_null(items.field("url"))
    columns = {
        "campaign_id": pa.repeat(pa.scalar(campaign_id, _TEXT), len(items)), "list_id": emails.field("list_id").take(owner),
        "email_id": email_id, "email_address": require_valid(emails.field("email_address")).take(owner),
        "action": require_valid(items.field("action")), "timestamp": timestamp, "url": url,
        "bounce_type": blank_to_null(items.field("type")), "ip": blank_to_null(items.field("ip")),
    }
    parts = pa.table({"email_id": email_id, "action": columns["action"], "utc": pc.cast(timestamp, pa.timestamp("us")),
                      "url": url})
    ids = query(_ACTIVITY_IDS, [campaign_id], items=parts)
    return pa.table({"activity_id": ids.column(0), **columns}, schema=EMAIL_ACTIVITY.schema)


def recipient_from_api(r: Mapping[str, Any], campaign_id: str) -> dict:
    s = "recipients"
    return {
        "campaign_id": campaign_id,
        "email_id": _path(r, "email_id", s, str),
        "email_address": _path(r, "email_address", s, str),
        "status": _path(r, "status", s, str),
        "list_id": _opt_str(r, "list_id", s),
        "absplit_group": _opt_str(r, "absplit_group", s) or None,  # "" outside A/B split campaigns
    }


RECIPIENTS_PAGE = pa.schema([  # a sent-to page as Arrow decodes it
    ("sent_to", pa.list_(pa.struct([("email_id", _TEXT), ("email_address", _TEXT), ("status", _TEXT), ("list_id", _TEXT),
                                    ("absplit_group", _TEXT)]))),
    ("total_items", pa.int64()),
])
RECIPIENT_FIELDS_READ = {"email_id", "email_address", "status", "list_id", "absplit_group"}  # what recipient_from_api reads


def recipient_columns(sent_to: pa.StructArray, campaign_id: str) -> pa.Table:
    """`recipient_from_api` over a whole page of `sent_to[]` at once, in Arrow; Irregular as activity_columns."""
    require_valid(sent_to)
    return pa.table({
        "campaign_id": pa.repeat(pa.scalar(campaign_id, _TEXT), len(sent_to)),
        "email_id": require_valid(sent_to.field("email_id")), "email_address": require_valid(sent_to.field("email_address")),
        "status": require_valid(sent_to.field("status")), "list_id": sent_to.field("list_id"),
        "absplit_group": blank_to_null(sent_to.field("absplit_group")),
    }, schema=RECIPIENTS.schema)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs += [value for name, value in attrs if name == "href" and value]


def link_utm_contents(html: str | None) -> list[str]:
    """The distinct utm_content values of an email's links, sorted, as written (not percent-decoded:
    the same text the click URLs in email activity carry)."""
    parser = _Links()
    parser.feed(html or "")
    found = {value for href in parser.hrefs for name, _, value in (pair.partition("=") for pair in urlsplit(href).query.split("&"))
             if name == "utm_content" and value}
    return sorted(found)


def variate_contents_from_api(body: Mapping[str, Any], campaign_id: str) -> list[dict]:
    """A variate campaign's contents in order; a campaign not testing content has one (its own html)."""
    s = "variate_contents"
    contents = _path(body, "variate_contents", s, list, required=False)
    if not contents:
        contents = [{"content_label": "", "html": _opt_str(body, "html", s)}]
    rows = []
    for i, content in enumerate(contents):
        name = f"variate_contents.{i}"
        if not isinstance(content, Mapping):
            raise SchemaError(SOURCE, s, name, f"of type {type(content).__name__}")
        rows.append({
            "campaign_id": campaign_id, "content_index": i,
            "content_label": _opt_str(content, "content_label", s, name=f"{name}.content_label"),
            "link_utm_contents": json.dumps(link_utm_contents(_opt_str(content, "html", s, name=f"{name}.html"))),
        })
    return rows


def member_from_api(m: Mapping[str, Any], list_id: str) -> dict:
    s = "list_members"
    return {
        "list_id": list_id,
        "id": _path(m, "id", s, str),
        "email_address": _path(m, "email_address", s, str),
        "unique_email_id": _path(m, "unique_email_id", s, str),
        "contact_id": _opt_str(m, "contact_id", s) or None,
        "status": _path(m, "status", s, str),
        "timestamp_opt": _ts(m, "timestamp_opt", s, required=False),  # "" for imported members
        "last_changed": _ts(m, "last_changed", s),
    }


# --- the client ------------------------------------------------------------------------------
def _iso(ts: datetime) -> str:
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    return ts.astimezone(timezone.utc).isoformat()


@dataclass
class MailchimpClient(ApiClient):
    api_key: str = field(default="", repr=False)
    page_size: int = MAX_PAGE

    source = SOURCE
    STREAMS = (CAMPAIGNS, REPORTS, EMAIL_ACTIVITY, RECIPIENTS, LIST_MEMBERS, VARIATE_CONTENTS)
    CONCURRENCY = MAX_CONNECTIONS
    WORKERS = MAX_CONNECTIONS

    def __post_init__(self) -> None:
        self._basic = base64.b64encode(f"{BASIC_USER}:{self.api_key}".encode()).decode()
        super().__post_init__()
        self.page_size = max(1, min(int(self.page_size), MAX_PAGE))

    @classmethod
    def from_settings(cls, api_key: str | None, base_url: str | None = None, **kw: Any) -> MailchimpClient:
        key = (api_key or "").strip()
        if not key:
            raise ConfigError("MAILCHIMP_API_KEY is not set")
        _, sep, dc = key.rpartition("-")
        if not sep or not re.fullmatch(r"[a-z]{2,}[0-9]+", dc):
            raise ConfigError(
                "MAILCHIMP_API_KEY has no data-centre suffix: a Mailchimp key looks like <32 hex characters>-us21"
            )
        url = validate_base_url(base_url, "MAILCHIMP_API_URL", default=f"https://{dc}.api.mailchimp.com/3.0")
        return cls(base_url=url, api_key=key, **kw)

    # --- dialect -------------------------------------------------------------------------
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Basic {self._basic}"}

    def secrets(self) -> tuple[str, ...]:
        return (self.api_key, self._basic)

    def error_message(self, body: Any, response: requests.Response) -> str:
        """Problem JSON: `title: detail`, plus the per-field messages of a 400."""
        if isinstance(body, dict) and (body.get("title") or body.get("detail")):
            message = ": ".join(str(body[k]) for k in ("title", "detail") if body.get(k))
            errors = body.get("errors")
            if isinstance(errors, list) and errors:
                message += " (" + "; ".join(
                    f"{e.get('field') or '?'}: {e.get('message') or ''}" for e in errors if isinstance(e, dict)) + ")"
            return message
        return super().error_message(body, response)

    # --- reading -------------------------------------------------------------------------
    def read(self, stream_name: str, window: Window) -> Iterator[list[dict]]:
        spec = spec_by_name(self.STREAMS, stream_name)
        reader: Callable[[Window], Iterator[list[dict]]] = getattr(self, f"_read_{spec.name}")
        for page in reader(window):
            if page:
                self.page_done(spec.name, len(page))
                yield page

    def _pages(self, stream: str, path: str, records_key: str, params: Mapping[str, Any],
               item_key: str = "id", watch: bool = True, layout: pa.Schema | None = None) -> Iterator[Any]:
        """Raw records page by page, by count/offset until total_items or an empty page: a list of
        dicts, or with a `layout` an ArrowBody when the page fits it (see connectors/columnar.py).

        The offset advances by the records that are new: when a page starts with records the
        previous page ended with (offset drift), the next offset is corrected by that many, so
        nothing between pages is skipped; the repeats themselves are left to the loader's
        de-duplication on the natural key."""
        url = f"{self.base_url}{path}"

        def fetch(offset: int) -> tuple[Any, Mapping[str, str]]:  # pages may be fetched ahead on other threads
            body = self.request("GET", url, endpoint=path, params={**params, "count": self.page_size, "offset": offset},
                                columnar=layout)
            if isinstance(body, ArrowBody) and (body.value("total_items") is None or body.column(records_key).null_count):
                body = body.python()  # the dict path names what is missing
            return body, self.last_headers

        def records(body: tuple[Any, Mapping[str, str]]) -> Any:
            if isinstance(body[0], ArrowBody):
                return body[0].items(records_key)
            return _path(body[0], records_key, stream, list, name=records_key)

        def total(body: tuple[Any, Mapping[str, str]]) -> int:
            return body[0].value("total_items") if isinstance(body[0], ArrowBody) else _int(body[0], "total_items", stream)

        def keys(page: Any) -> list:
            if isinstance(page, pa.StructArray):
                return page.field(item_key).to_pylist() if page.type.get_field_index(item_key) >= 0 else [None] * len(page)
            return [r.get(item_key) if isinstance(r, Mapping) else None for r in page]

        for body, headers in offset_pages(fetch, records=records, total=total, keys=keys, source=self.source,
                                          endpoint=path, step=self.page_size, workers=self.workers):
            self.last_headers = headers
            if isinstance(body, ArrowBody):
                yield body
            else:
                found = body[records_key]
                yield self.watch_fields(stream, found) if watch else found

    def _sent_params(self, window: Window, records_key: str) -> dict[str, str]:
        return {
            "status": "sent", "since_send_time": _iso(window.start_ts), "before_send_time": _iso(window.end_ts),
            "sort_field": "send_time", "sort_dir": "ASC", "exclude_fields": f"_links,{records_key}._links",
        }

    def _read_campaigns(self, window: Window) -> Iterator[list[dict]]:
        for records in self._pages("campaigns", "/campaigns", "campaigns", self._sent_params(window, "campaigns")):
            yield [campaign_from_api(c) for c in records]

    def _read_reports(self, window: Window) -> Iterator[list[dict]]:
        params = {k: v for k, v in self._sent_params(window, "reports").items() if k != "status"}
        for records in self._pages("reports", "/reports", "reports", params):
            seen_at = observed_at(self.last_headers)
            yield [report_from_api(r, seen_at) for r in records]

    def _campaign_ids(self, stream: str, window: Window) -> list[str]:
        ids: list[str] = []
        for records in self._pages(stream, "/campaigns", "campaigns", self._sent_params(window, "campaigns"), watch=False):
            for c in records:
                cid = _path(c, "id", stream, str, name="campaigns.id")
                if cid not in ids:
                    ids.append(cid)
        return ids

    def _read_email_activity(self, window: Window) -> Iterator[list[dict] | pa.Table]:
        since = _iso(window.since_ts)  # a daily run re-reads a month of sends, only their recent activity

        def job(cid: str) -> Callable[[], Iterator[list[dict] | pa.Table]]:
            def pages() -> Iterator[list[dict] | pa.Table]:
                params = {"since": since, "filter_bots": "true", "exclude_fields": "_links,emails._links"}
                for page in self._pages("email_activity", f"/reports/{cid}/email-activity", "emails", params, "email_id",
                                        layout=ACTIVITY_PAGE):
                    yield self._activity(page, cid)
            return pages

        yield from self._fan_out([job(cid) for cid in self._campaign_ids("email_activity", window)])

    def _activity(self, page: ArrowBody | list, campaign_id: str) -> list[dict] | pa.Table:
        return self._rows("email_activity", "emails", page, campaign_id, activity_columns, ACTIVITY_FIELDS_READ,
                          lambda records: [row for e in records for row in activity_from_api(e, campaign_id)])

    def _rows(self, stream: str, records_key: str, page: ArrowBody | list, campaign_id: str,
              columns: Callable[[pa.StructArray, str], pa.Table], read: set[str],
              build: Callable[[list], list[dict]]) -> list[dict] | pa.Table:
        """A page's rows: `columns` over a decoded page (connectors/columnar.py), else the builders' `build`."""
        if isinstance(page, ArrowBody):
            items = page.items(records_key)
            try:
                table = columns(items, campaign_id)
            except (Irregular, pa.ArrowException):  # the builders read it, or name what is wrong
                page = self.watch_fields(stream, page.python()[records_key])
            else:
                self.watch_columns(stream, struct_fields(items), read)
                return table
        return build(page)

    def _read_recipients(self, window: Window) -> Iterator[list[dict] | pa.Table]:
        def job(cid: str) -> Callable[[], Iterator[list[dict] | pa.Table]]:
            def pages() -> Iterator[list[dict] | pa.Table]:
                params = {"exclude_fields": "_links,sent_to._links,sent_to.merge_fields"}
                for page in self._pages("recipients", f"/reports/{cid}/sent-to", "sent_to", params, "email_id",
                                        layout=RECIPIENTS_PAGE):
                    yield self._rows("recipients", "sent_to", page, cid, recipient_columns, RECIPIENT_FIELDS_READ,
                                     lambda records, cid=cid: [recipient_from_api(r, cid) for r in records])
            return pages

        yield from self._fan_out([job(cid) for cid in self._campaign_ids("recipients", window)])

    def _read_variate_contents(self, window: Window) -> Iterator[list[dict]]:
        stream = "variate_contents"
        ids: list[str] = []
        for records in self._pages(stream, "/campaigns", "campaigns", self._sent_params(window, "campaigns"), watch=False):
            for c in records:
                if _path(c, "type", stream, str, name="campaigns.type") == "variate":
                    ids.append(_path(c, "id", stream, str, name="campaigns.id"))
        def job(cid: str) -> Callable[[], Iterator[list[dict]]]:
            def pages() -> Iterator[list[dict]]:
                path = f"/campaigns/{cid}/content"
                params = {"exclude_fields": "_links,plain_text,archive_html,variate_contents.plain_text"}
                body = self.request("GET", f"{self.base_url}{path}", endpoint=path, params=params)
                if not isinstance(body, Mapping):
                    raise SchemaError(SOURCE, stream, "content", f"not a JSON object ({type(body).__name__})")
                if isinstance(body.get("variate_contents"), list):
                    body = {**body, "variate_contents": self.watch_fields(stream, body["variate_contents"])}
                yield variate_contents_from_api(body, cid)
            return pages

        yield from self._fan_out([job(cid) for cid in dict.fromkeys(ids)])

    def _read_list_members(self, window: Window) -> Iterator[list[dict]]:
        list_ids: list[str] = []
        for records in self._pages("list_members", "/lists", "lists", {"exclude_fields": "_links,lists._links"}, watch=False):
            list_ids += [_path(lst, "id", "list_members", str, name="lists.id") for lst in records]
        params = {"exclude_fields": "_links,members._links"}
        if window.cursor is not None:
            params["since_last_changed"] = _iso(window.cursor)
        def job(list_id: str) -> Callable[[], Iterator[list[dict]]]:
            def pages() -> Iterator[list[dict]]:
                for records in self._pages("list_members", f"/lists/{list_id}/members", "members", params):
                    yield [member_from_api(m, list_id) for m in records]
            return pages

        yield from self._fan_out([job(list_id) for list_id in dict.fromkeys(list_ids)])

    def _fan_out(self, jobs: list[Callable[[], Iterator[list[dict]]]]) -> Iterator[list[dict]]:
        """Pages as they arrive: a big campaign must not hold the others' pages back in memory."""
        return self.fan_out(jobs, ordered=False)
