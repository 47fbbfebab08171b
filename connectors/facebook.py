"""Meta Graph API (Facebook Pages): published posts (lifetime counters as dated snapshots),
comments, reactions and the current views insight.

The page token travels as `Authorization: Bearer`, never as `access_token=` in a URL (requests
puts URLs into exception text). Cursor paging follows `paging.next` until it is absent (a short
or empty page is not the end); a `next` URL must point at the configured host and loses any
token parameter before it is followed. Meta throttles with codes 4/17/32/613/80001/341 inside
HTTP 400/403 bodies, not 429: those are waited out (Business-Use-Case header when it says how
long, else exponential backoff). `shares` is absent when a post has none: stored as NULL.
Insights: `post_impressions` was retired on 2025-11-15 and one retired metric fails the whole
call (#100), so only metrics in INSIGHT_METRICS are requested.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pyarrow as pa

from connectors.http import ApiClient, ApiError, require, validate_base_url
from connectors.streams import StreamSpec, Window, observed_at, parse_ts

DEFAULT_BASE_URL = "https://graph.facebook.com/v24.0"
THROTTLE_CODES = {4, 17, 32, 341, 613, 80001}
INSIGHT_METRICS = ("post_media_view",)
TS = pa.timestamp("us", tz="UTC")
S, I = pa.string(), pa.int64()
POST_FIELDS = ("id,created_time,message,permalink_url,attachments{unshimmed_url,url,type},shares,"
               "reactions.summary(total_count).limit(0),comments.summary(total_count).limit(0)")

POSTS = StreamSpec("facebook", "posts", pa.schema([
    ("post_id", S), ("snapshot_date", pa.date32()), ("observed_at", TS), ("created_time", TS), ("message", S),
    ("permalink_url", S), ("link", S), ("reactions_total", I), ("comments_total", I), ("shares_count", I)]),
    ("post_id", "snapshot_date"), description="page posts with lifetime counters, one snapshot per day; shares_count NULL when Meta omits shares")
COMMENTS = StreamSpec("facebook", "comments", pa.schema([
    ("comment_id", S), ("post_id", S), ("created_time", TS), ("message", S), ("from_id", S), ("from_name", S), ("parent_id", S)]),
    ("comment_id",), description="comments and replies; from_id NULL when Meta withholds the author")
REACTIONS = StreamSpec("facebook", "reactions", pa.schema([
    ("post_id", S), ("user_id", S), ("name", S), ("type", S), ("observed_at", TS)]), ("post_id", "user_id"),
    description="who reacted to each post (Meta gives no reaction time)")
POST_INSIGHTS = StreamSpec("facebook", "post_insights", pa.schema([
    ("post_id", S), ("metric", S), ("period", S), ("snapshot_date", pa.date32()), ("value", I)]),
    ("post_id", "metric", "snapshot_date"), description="lifetime post insights (views), one snapshot per day")


@dataclass
class FacebookClient(ApiClient):
    page_id: str = ""
    access_token: str = ""
    page_size: int = 100

    source = "facebook"
    STREAMS = (POSTS, COMMENTS, REACTIONS, POST_INSIGHTS)

    @classmethod
    def from_settings(cls, page_id: str, access_token: str, base_url: str | None = None, **kw: Any) -> FacebookClient:
        return cls(base_url=validate_base_url(base_url, "FACEBOOK_GRAPH_URL", DEFAULT_BASE_URL), page_id=page_id,
                   access_token=access_token, **kw)

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    def secrets(self) -> tuple[str, ...]:
        return (self.access_token,)

    def error_message(self, body: Any, response) -> str:
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            return f"{error.get('message', '')} (code {error.get('code')}, {error.get('type', 'error')})"
        return super().error_message(body, response)

    def throttle_wait(self, response, body: Any) -> float | None:
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict) or error.get("code") not in THROTTLE_CODES:
            return None
        try:
            usage = json.loads(response.headers.get("X-Business-Use-Case-Usage") or "{}")
            minutes = max(e.get("estimated_time_to_regain_access", 0) for entries in usage.values() for e in entries)
        except (ValueError, AttributeError, TypeError):
            minutes = 0
        return minutes * 60.0

    def _follow(self, url: str) -> str:
        """Accept a paging.next URL only on our own host, and never with a token in it."""
        base, nxt = urlsplit(self.base_url), urlsplit(url)
        if (nxt.scheme, nxt.netloc) != (base.scheme, base.netloc):
            raise ApiError("facebook", "paging.next", None, f"refusing to follow a next page on another host ({nxt.netloc})")
        query = urlencode([(k, v) for k, v in parse_qsl(nxt.query, keep_blank_values=True) if k != "access_token"])
        return urlunsplit((nxt.scheme, nxt.netloc, nxt.path, query, ""))

    def _pages(self, path: str, endpoint: str, params: dict) -> Iterator[list[dict]]:
        url, query = f"{self.base_url}{path}", {**params, "limit": self.page_size}
        while True:
            body = self.request("GET", url, endpoint=endpoint, params=query) or {}
            yield body.get("data") or []
            nxt = (body.get("paging") or {}).get("next")
            if not nxt:
                return
            url, query = self._follow(nxt), None

    def _posts(self, window: Window) -> Iterator[list[dict]]:
        params = {"fields": POST_FIELDS, "since": int(window.start_ts.timestamp()), "until": int(window.end_ts.timestamp())}
        for items in self._pages(f"/{self.page_id}/published_posts", "{page-id}/published_posts", params):
            seen = observed_at(self.last_headers)
            yield [post_from_api(p, seen) for p in items]

    def read(self, stream: str, window: Window) -> Iterator[list[dict]]:
        if stream == "posts":
            for records in self._posts(window):
                yield self._page(stream, records)
            return
        if stream not in ("comments", "reactions", "post_insights"):
            raise KeyError(stream)
        for post_id in [r["post_id"] for records in self._posts(window) for r in records]:
            if stream == "comments":
                params = {"filter": "stream", "order": "chronological", "fields": "id,created_time,message,from{id,name},parent{id}"}
                for items in self._pages(f"/{post_id}/comments", "{post-id}/comments", params):
                    yield self._page(stream, [comment_from_api(c, post_id) for c in items])
            elif stream == "reactions":
                for items in self._pages(f"/{post_id}/reactions", "{post-id}/reactions", {"fields": "id,name,type"}):
                    seen = observed_at(self.last_headers)
                    yield self._page(stream, [{"post_id": post_id, "user_id": require(r, "id", "facebook", "reactions", str),
                                               "name": r.get("name"), "type": r.get("type"), "observed_at": seen} for r in items])
            else:
                body = self.request("GET", f"{self.base_url}/{post_id}/insights", endpoint="{post-id}/insights",
                                    params={"metric": ",".join(INSIGHT_METRICS)}) or {}
                seen = observed_at(self.last_headers)
                yield self._page(stream, [insight_from_api(m, post_id, seen) for m in body.get("data") or []])

    def _page(self, stream: str, records: list[dict]) -> list[dict]:
        self.page_done(stream, len(records))
        return records


def _total(block: Any, stream: str, name: str) -> int:
    summary = require(block, "summary", "facebook", f"{stream}.{name}", dict)
    return require(summary, "total_count", "facebook", f"{stream}.{name}.summary", int)


def post_from_api(p: dict, seen) -> dict:
    attachments = (p.get("attachments") or {}).get("data") or []
    shares = p.get("shares")
    return {
        "post_id": require(p, "id", "facebook", "posts", str), "snapshot_date": seen.date(), "observed_at": seen,
        "created_time": parse_ts(require(p, "created_time", "facebook", "posts", str)), "message": p.get("message"),
        "permalink_url": p.get("permalink_url"),
        "link": next((a.get("unshimmed_url") or a.get("url") for a in attachments if a.get("unshimmed_url") or a.get("url")), None),
        "reactions_total": _total(require(p, "reactions", "facebook", "posts", dict), "posts", "reactions"),
        "comments_total": _total(require(p, "comments", "facebook", "posts", dict), "posts", "comments"),
        "shares_count": require(shares, "count", "facebook", "posts.shares", int) if shares is not None else None,
    }


def comment_from_api(c: dict, post_id: str) -> dict:
    author = c.get("from") or {}
    return {"comment_id": require(c, "id", "facebook", "comments", str), "post_id": post_id,
            "created_time": parse_ts(require(c, "created_time", "facebook", "comments", str)), "message": c.get("message"),
            "from_id": author.get("id"), "from_name": author.get("name"), "parent_id": (c.get("parent") or {}).get("id")}


def insight_from_api(m: dict, post_id: str, seen) -> dict:
    values = require(m, "values", "facebook", "post_insights", list)
    value = require(values[0] if values else {}, "value", "facebook", "post_insights.values", int)
    return {"post_id": post_id, "metric": require(m, "name", "facebook", "post_insights", str), "period": m.get("period"),
            "snapshot_date": seen.date(), "value": value}
