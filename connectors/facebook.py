"""Meta Graph API (Facebook Pages): published posts as dated snapshots, comments, reactions, post insights, tags.

The page token goes in `Authorization: Bearer`, never in a URL (requests puts URLs in exception
text). Paging follows `paging.next` (a full URL) until it is absent; an empty `data` with a
`next` is not the end. Before a `next` URL is followed it must point at the base URL's own
scheme, host and port (anything else is refused), and any `access_token` Meta echoed into it is
stripped.

Meta throttles with HTTP 400/403 and codes 4, 17, 32, 341, 613, 80001 in the error body (not
429): `throttle_wait` turns those into a retry of the shared request loop, waiting
`estimated_time_to_regain_access` (minutes, from X-Business-Use-Case-Usage) when Meta names one.
Code 190 (invalid or expired token) fails at once with Meta's message.

Counters (reactions, comments, shares, insights) are lifetime values with no per-event time:
each read stores them as a snapshot dated by the API's own Date header (`observed_at`,
`snapshot_date`); day-over-day differences are the downstream's business. `shares_count` is NULL
when Meta omits `shares`, which it does when a post has no shares: NULL means "Meta sent no
shares object" (in practice 0) and is left for the downstream to coalesce.

Tags are the public posts by others in which the Page is tagged (`/{page-id}/tagged`, a Page token
with `pages_read_user_content`): the seed's "tags", counted as mentions. They are dated by their
`created_time` (PagePost has no `tagged_time`); Meta withholds their author (`from` is shown only to
the post's author), so a tag counts for the day but names no person.

Meta documents no limit on simultaneous requests; its Page limits are calls per 24 hours (4,800 times
the Page's engaged users), far above one run's calls, and a throttle is waited out as above.
Per-post reads (comments, reactions, insights) run on up to `WORKERS` threads.

Post insights are requested one metric per call from `POST_INSIGHT_METRICS`: Meta retires
insights metrics in waves and one retired metric fails the whole call with (#100). The list
holds `post_media_view` ("views"), the replacement for `post_impressions` retired 2025-11-15.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pyarrow as pa
import requests

from connectors.http import ApiClient, ApiError, SchemaError, validate_base_url
from connectors.pages import next_url_pages
from connectors.records import first_seen, observed_at, require, require_path, require_ts
from connectors.sources import Setting, Source
from connectors.streams import StreamSpec, Window

DEFAULT_BASE_URL = "https://graph.facebook.com/v24.0"
DECLARATION = Source("facebook", "Meta Graph API (Facebook Pages)", "connectors.facebook:FacebookClient", (
    Setting("FACEBOOK_PAGE_ID", "page_id"),
    Setting("FACEBOOK_ACCESS_TOKEN", "access_token", help="page access token; sent as a header, never in URLs"),
    Setting("FACEBOOK_GRAPH_URL", "base_url", required=False, example=DEFAULT_BASE_URL),
), "connectors.sandbox.api_facebook")
MAX_PAGE_SIZE = 100
THROTTLE_CODES = frozenset({4, 17, 32, 341, 613, 80001})
INVALID_TOKEN_CODE = 190
# Current post-level views metric; post_impressions* were retired by Meta on 2025-11-15.
POST_INSIGHT_METRICS: tuple[str, ...] = ("post_media_view",)
# Meta's retirements: metric -> (date, successor). One of these in a call fails it with (#100), not naming it.
RETIRED_INSIGHT_METRICS: dict[str, tuple[str, str]] = {
    "post_impressions": ("2025-11-15", "post_media_view"),
    "post_impressions_paid": ("2025-11-15", "post_media_view with the is_from_ads breakdown"),
    "post_impressions_organic": ("2025-11-15", "post_media_view with the is_from_ads breakdown"),
    "post_impressions_fan": ("2025-11-15", "post_media_view with the is_from_followers breakdown"),
    "post_impressions_viral": ("2025-11-15", "none"),
    "post_impressions_nonviral": ("2025-11-15", "none"),
    "post_impressions_unique": ("2026-06-15", "post_total_media_view_unique"),
    "page_impressions": ("2025-11-15", "page_media_view"),
    "page_impressions_unique": ("2026-06-15", "page_total_media_view_unique"),
    "page_fans": ("2025-11-15", "page_follows"),
    "post_engaged_users": ("2024-03-14", "none"),
}
# Query parameters never to send, even when Meta puts them into a `next` URL.
CREDENTIAL_PARAMS = frozenset({"access_token", "appsecret_proof"})

POST_FIELDS = ("id,created_time,message,permalink_url,attachments{unshimmed_url,url,type},shares,"
               "reactions.summary(total_count).limit(0),comments.summary(total_count).limit(0)")
COMMENT_FIELDS = "id,created_time,message,from{id,name},parent{id}"
REACTION_FIELDS = "id,name,type"
TAG_FIELDS = "id,created_time,message,permalink_url"

TS = pa.timestamp("us", tz="UTC")
S, INT = pa.string(), pa.int64()

POSTS = StreamSpec("facebook", "posts", pa.schema([
    ("post_id", S), ("snapshot_date", pa.date32()), ("observed_at", TS), ("created_time", TS), ("message", S),
    ("permalink_url", S), ("link", S), ("reactions_total", INT), ("comments_total", INT), ("shares_count", INT)]),
    ("post_id", "snapshot_date"), reach="counters",
    description="the page's published posts with lifetime reaction/comment/share counters, one snapshot per day; "
                "shares_count is NULL when Meta omits `shares` (it does so when there are none)")
COMMENTS = StreamSpec("facebook", "comments", pa.schema([
    ("comment_id", S), ("post_id", S), ("created_time", TS), ("message", S), ("from_id", S), ("from_name", S),
    ("parent_id", S)]), ("comment_id",), reach="engagement",
    description="comments and replies (filter=stream) on the window's posts; from_id/from_name are NULL when Meta withholds the author")
REACTIONS = StreamSpec("facebook", "reactions", pa.schema([
    ("post_id", S), ("user_id", S), ("name", S), ("type", S), ("observed_at", TS)]), ("post_id", "user_id"),
    reach="engagement",
    description="who reacted to the window's posts, and how; reactions carry no time, observed_at is when they were seen")
TAGS = StreamSpec("facebook", "tags", pa.schema([
    ("tag_post_id", S), ("created_time", TS), ("message", S), ("permalink_url", S)]), ("tag_post_id",),
    description="public posts by others in which the Page is tagged, created in the window (counted as mentions)")
POST_INSIGHTS = StreamSpec("facebook", "post_insights", pa.schema([
    ("post_id", S), ("metric", S), ("period", S), ("snapshot_date", pa.date32()), ("value", INT)]),
    ("post_id", "metric", "snapshot_date"), reach="engagement",
    description="lifetime post insights (POST_INSIGHT_METRICS), one snapshot per day")


def _int(value: Any, stream: str, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SchemaError("facebook", stream, name, f"of type {type(value).__name__}" if value is not None else "missing")
    return value


def _path(record: Mapping[str, Any], dotted: str, stream: str, kind: type | tuple[type, ...] | None = None) -> Any:
    return require_path(record, dotted, "facebook", stream, kind)


def _ts(record: Mapping[str, Any], key: str, stream: str) -> datetime:
    return require_ts(record, key, "facebook", stream)


def _link(post: Mapping[str, Any]) -> str | None:
    attachments = post.get("attachments")
    data = attachments.get("data") if isinstance(attachments, Mapping) else None
    for attachment in data if isinstance(data, list) else ():
        if isinstance(attachment, Mapping) and isinstance(attachment.get("unshimmed_url"), str):
            return attachment["unshimmed_url"]
    return None


def post_from_api(r: Mapping[str, Any], seen_at: datetime) -> dict:
    shares = r.get("shares")
    return {
        "post_id": require(r, "id", "facebook", "posts", str),
        "snapshot_date": seen_at.date(),
        "observed_at": seen_at,
        "created_time": _ts(r, "created_time", "posts"),
        "message": r.get("message"),
        "permalink_url": r.get("permalink_url"),
        "link": _link(r),
        "reactions_total": _path(r, "reactions.summary.total_count", "posts", int),
        "comments_total": _path(r, "comments.summary.total_count", "posts", int),
        # Meta omits `shares` when a post has none: NULL here, the downstream decides (see module doc)
        "shares_count": _path(r, "shares.count", "posts", int) if shares is not None else None,
    }


def comment_from_api(r: Mapping[str, Any], post_id: str) -> dict:
    author = r.get("from")
    if author is not None and not isinstance(author, Mapping):
        raise SchemaError("facebook", "comments", "from", f"of type {type(author).__name__}")
    parent = r.get("parent")
    return {
        "comment_id": require(r, "id", "facebook", "comments", str),
        "post_id": post_id,
        "created_time": _ts(r, "created_time", "comments"),
        "message": r.get("message"),
        "from_id": _path(r, "from.id", "comments", str) if author is not None else None,
        "from_name": author.get("name") if author is not None else None,
        "parent_id": _path(r, "parent.id", "comments", str) if isinstance(parent, Mapping) else None,
    }


def reaction_from_api(r: Mapping[str, Any], post_id: str, seen_at: datetime) -> dict:
    return {
        "post_id": post_id,
        "user_id": require(r, "id", "facebook", "reactions", str),
        "name": r.get("name"),
        "type": require(r, "type", "facebook", "reactions", str),
        "observed_at": seen_at,
    }


def tag_from_api(r: Mapping[str, Any]) -> dict:
    return {
        "tag_post_id": require(r, "id", "facebook", "tags", str),
        "created_time": _ts(r, "created_time", "tags"),
        "message": r.get("message"),
        "permalink_url": r.get("permalink_url"),
    }


def insight_from_api(r: Mapping[str, Any], post_id: str, seen_at: datetime) -> dict:
    values = require(r, "values", "facebook", "post_insights", list)
    if not values:
        raise SchemaError("facebook", "post_insights", "values", "empty")
    return {
        "post_id": post_id,
        "metric": require(r, "name", "facebook", "post_insights", str),
        "period": require(r, "period", "facebook", "post_insights", str),
        "snapshot_date": seen_at.date(),
        "value": _int(values[-1].get("value") if isinstance(values[-1], Mapping) else None, "post_insights", "values.value"),
    }


@dataclass
class FacebookClient(ApiClient):
    page_id: str = ""
    access_token: str = ""
    page_size: int = MAX_PAGE_SIZE
    insight_metrics: tuple[str, ...] = POST_INSIGHT_METRICS

    source = "facebook"
    STREAMS = (POSTS, COMMENTS, REACTIONS, POST_INSIGHTS, TAGS)

    @classmethod
    def from_settings(cls, page_id: str, access_token: str, base_url: str | None = None, **kw: Any) -> FacebookClient:
        return cls(base_url=validate_base_url(base_url, "FACEBOOK_GRAPH_URL", DEFAULT_BASE_URL),
                   page_id=page_id, access_token=access_token, **kw)

    # --- the API's dialect ----------------------------------------------------------------
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    def secrets(self) -> tuple[str, ...]:
        return (self.access_token,)

    def error_message(self, body: Any, response: requests.Response) -> str:
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return super().error_message(body, response)
        message = str(error.get("message") or response.reason or "error")
        details = [f"{k} {error[k]}" for k in ("type", "code", "error_subcode", "fbtrace_id") if error.get(k) is not None]
        if error.get("code") == INVALID_TOKEN_CODE:
            message += " (the page access token is invalid or expired: renew FACEBOOK_ACCESS_TOKEN)"
        return f"{message} [{', '.join(details)}]" if details else message

    def throttle_wait(self, response: requests.Response, body: Any) -> float | None:
        error = body.get("error") if isinstance(body, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        if code not in THROTTLE_CODES or not 400 <= response.status_code < 500:
            return None
        return _regain_access_seconds(response.headers)

    # --- streams -------------------------------------------------------------------------
    def read(self, stream: str, window: Window) -> Iterator[list[dict]]:
        readers = {"posts": self._posts, "comments": self._comments, "reactions": self._reactions,
                   "post_insights": self._insights, "tags": self._tags}
        if stream not in readers:
            raise KeyError(f"unknown stream {stream!r}; known: {', '.join(readers)}")
        yield from readers[stream](window)

    def _posts(self, window: Window) -> Iterator[list[dict]]:
        seen: set[str] = set()
        for data in self._published_posts(window, POST_FIELDS, "posts"):
            at = observed_at(self.last_headers)
            records = []
            for r in data:
                record = post_from_api(r, at)
                if record["post_id"] not in seen and window.start_ts <= record["created_time"] < window.end_ts:
                    seen.add(record["post_id"])
                    records.append(record)
            self.page_done("posts", len(records))
            if records:
                yield records

    def _tags(self, window: Window) -> Iterator[list[dict]]:
        seen: set[str] = set()
        params = {"fields": TAG_FIELDS, "since": int(window.start_ts.timestamp()), "until": int(window.end_ts.timestamp()),
                  "limit": self.page_size}
        for data in self._pages(f"{self.base_url}/{self.page_id}/tagged", params, "tagged", "tags"):
            records = [t for t in (tag_from_api(r) for r in data)
                       if t["tag_post_id"] not in seen and window.start_ts <= t["created_time"] < window.end_ts]
            seen.update(t["tag_post_id"] for t in records)
            self.page_done("tags", len(records))
            if records:
                yield records

    def _comments(self, window: Window) -> Iterator[list[dict]]:
        def job(post_id: str) -> Callable[[], Iterator[list[dict]]]:
            def pages() -> Iterator[list[dict]]:
                params = {"filter": "stream", "order": "chronological", "fields": COMMENT_FIELDS, "limit": self.page_size}
                for data in self._pages(f"{self.base_url}/{post_id}/comments", params, f"{post_id}/comments", "comments"):
                    yield [comment_from_api(r, post_id) for r in data]
            return pages

        seen: set[str] = set()
        for page in self.fan_out([job(post_id) for post_id in self._post_ids(window, "comments")]):
            records = first_seen(page, "comment_id", seen)
            self.page_done("comments", len(records))
            if records:
                yield records

    def _reactions(self, window: Window) -> Iterator[list[dict]]:
        def job(post_id: str) -> Callable[[], Iterator[list[dict]]]:
            def pages() -> Iterator[list[dict]]:
                seen: set[str] = set()
                params = {"fields": REACTION_FIELDS, "limit": self.page_size}
                for data in self._pages(f"{self.base_url}/{post_id}/reactions", params, f"{post_id}/reactions", "reactions"):
                    at = observed_at(self.last_headers)
                    records = [x for x in (reaction_from_api(r, post_id, at) for r in data) if x["user_id"] not in seen]
                    seen.update(x["user_id"] for x in records)
                    yield records
            return pages

        for records in self.fan_out([job(post_id) for post_id in self._post_ids(window, "reactions")]):
            self.page_done("reactions", len(records))
            if records:
                yield records

    def _insights(self, window: Window) -> Iterator[list[dict]]:
        for records in self.fan_out([lambda post_id=post_id: self._post_insights(post_id)
                                     for post_id in self._post_ids(window, "post_insights")]):
            self.page_done("post_insights", len(records))
            if records:
                yield records

    def _post_insights(self, post_id: str) -> Iterator[list[dict]]:
        """One post's insights, every metric of POST_INSIGHT_METRICS, as one page."""
        records = []
        for metric in self.insight_metrics:  # one per call: a retired metric fails the whole call
            endpoint = f"{post_id}/insights?metric={metric}"
            try:
                body = self.request("GET", f"{self.base_url}/{post_id}/insights", endpoint=endpoint,
                                    params={"metric": metric}) or {}
            except ApiError as exc:
                if exc.status == 400 and "(#100)" in exc.api_message and metric in RETIRED_INSIGHT_METRICS:
                    retired, successor = RETIRED_INSIGHT_METRICS[metric]
                    raise ApiError(self.source, endpoint, 400, f"{exc.api_message} ({metric} was retired by Meta on "
                                                               f"{retired}; its successor: {successor})") from None
                raise
            at = observed_at(self.last_headers)
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, list):
                raise SchemaError("facebook", "post_insights", "data")
            records += [insight_from_api(r, post_id, at) for r in self.watch_fields("post_insights", data)]
        yield records

    # --- paging --------------------------------------------------------------------------
    def _published_posts(self, window: Window, fields: str, stream: str, watch: bool = True) -> Iterator[list[dict]]:
        params = {"fields": fields, "since": int(window.start_ts.timestamp()), "until": int(window.end_ts.timestamp()),
                  "limit": self.page_size}
        yield from self._pages(f"{self.base_url}/{self.page_id}/published_posts", params, "published_posts", stream, watch)

    def _post_ids(self, window: Window, stream: str) -> list[str]:
        """The window's posts, newest first; one created exactly at the window's end belongs to the next window."""
        ids: dict[str, None] = {}
        for data in self._published_posts(window, "id,created_time", stream, watch=False):  # ids only
            for r in data:
                post_id = require(r, "id", "facebook", stream, str)
                if window.start_ts <= _ts(r, "created_time", stream) < window.end_ts:
                    ids.setdefault(post_id)
        return list(ids)

    def _pages(self, url: str, params: dict[str, Any] | None, endpoint: str, stream: str,
               watch: bool = True) -> Iterator[list[dict]]:
        """The `data` of each page, following `paging.next` until it is absent (an empty page is not the end)."""
        def fetch(page_url: str) -> dict:
            body = self.request("GET", page_url, endpoint=endpoint, params=params if page_url == url else None)
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise SchemaError("facebook", stream, "data")
            return body

        def next_url(body: dict) -> str | None:
            paging = body.get("paging")
            nxt = paging.get("next") if isinstance(paging, dict) else None
            return self._safe_next(nxt, endpoint, stream) if nxt else None

        for body in next_url_pages(fetch, url, next_url=next_url, source=self.source, endpoint=endpoint):
            yield self.watch_fields(stream, body["data"]) if watch else body["data"]

    def _safe_next(self, nxt: Any, endpoint: str, stream: str) -> str:
        """`paging.next` on the base URL's own origin, with any credential Meta echoed into it removed."""
        if not isinstance(nxt, str):
            raise SchemaError("facebook", stream, "paging.next", f"of type {type(nxt).__name__}")
        parts, base = urlsplit(nxt), urlsplit(self.base_url)
        if _origin(parts) != _origin(base):
            shown = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
            raise ApiError(self.source, endpoint, None, f"refusing paging.next on another origin: {shown} (expected {_origin_text(base)})")
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() not in CREDENTIAL_PARAMS]
        return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def _origin(parts) -> tuple[str, str, int | None]:
    try:
        port = parts.port
    except ValueError:
        port = -1
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), port or default


def _origin_text(parts) -> str:
    scheme, host, port = _origin(parts)
    return f"{scheme}://{host}:{port}"


def _regain_access_seconds(headers: Mapping[str, str]) -> float:
    """Meta's own wait (X-Business-Use-Case-Usage `estimated_time_to_regain_access`, minutes) in seconds; 0 = back off."""
    raw = headers.get("X-Business-Use-Case-Usage")
    if not raw:
        return 0.0
    try:
        usage = json.loads(raw)
    except ValueError:
        return 0.0
    minutes = 0.0
    for entries in usage.values() if isinstance(usage, dict) else ():
        for entry in entries if isinstance(entries, list) else ():
            value = entry.get("estimated_time_to_regain_access") if isinstance(entry, dict) else None
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                minutes = max(minutes, float(value))
    return minutes * 60.0
