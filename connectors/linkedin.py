"""LinkedIn Community Management API (organisation page): posts, reactions, comments, share statistics, mentions.

Versioned `/rest` endpoints: every request carries `Authorization: Bearer <member token>`,
`LinkedIn-Version: YYYYMM` (LINKEDIN_VERSION; LinkedIn sunsets a version about a year after it
ships and answers a sunset one with 426 NONEXISTENT_VERSION) and `X-Restli-Protocol-Version: 2.0.0`.
Query values use Rest.li 2.0 encoding: URNs fully percent-encoded, lists as `List(a,b)`, records as
`(key:value)`, the structural characters left as they are; the query string is built here, never
re-encoded by requests. Times are epoch milliseconds.

Paging is `start`/`count` (`connectors.pages.restli_pages`): a page may hold fewer elements than
asked while more exist, so the end is an empty page, a `paging.links` without `next`, or
`start + len(elements) >= paging.total`; LinkedIn does not always send a total.

Errors are `{"status", "serviceErrorCode", "code", "message"}`. Throttling is a 429 with no
Retry-After and no rate headers (daily quotas reset at midnight UTC): the shared retry backs off.
LinkedIn publishes no figure for them nor for simultaneous requests: per-post reads and pages whose
start is known from `paging.total` run on up to `WORKERS` threads.

Streams:
- `posts`: the organisation's posts (`/rest/posts?q=author`) as a dated snapshot of lifetime
  counters: reactions and comments from `/rest/socialMetadata`, reposts and impressions (reach,
  never engagement) from `/rest/organizationalEntityShareStatistics` (lifetime, organic; a post
  with no activity is omitted there, which means zeros). The first link's URL is kept: its
  `utm_campaign` is the campaign key.
- `reactions`: who reacted to the window's posts, with LinkedIn's own reaction time.
- `comments`: comments on the window's posts, dated by their creation time; the actor is a member
  URN (`urn:li:person:…`) or an organisation URN.
- `mentions`: members' posts that mention the organisation (`organizationalEntityNotifications`,
  action SHARE_MENTION; LinkedIn keeps 60 days of them). The notification names the mentioning
  post, not its author or campaign.

A member URN identifies a LinkedIn account only: LinkedIn gives no email, and HubSpot has no
standard property holding a member URN, so these people cannot be linked to CRM contacts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import requests

from connectors.http import ApiClient, ConfigError, SchemaError, validate_base_url
from connectors.pages import restli_pages
from connectors.records import first_seen, observed_at, require, require_path
from connectors.sources import Setting, Source
from connectors.streams import StreamSpec, Window, spec_by_name

SOURCE = "linkedin"
DEFAULT_BASE_URL = "https://api.linkedin.com/rest"
DEFAULT_VERSION = "202611"
DECLARATION = Source(SOURCE, "LinkedIn Community Management API (organisation page)", "connectors.linkedin:LinkedInClient", (
    Setting("LINKEDIN_ORGANIZATION_ID", "organization_id", example="", help="numeric id of the organisation page"),
    Setting("LINKEDIN_ACCESS_TOKEN", "access_token",
            help="3-legged member token of a page ADMINISTRATOR: r_organization_social, rw_organization_admin"),
    Setting("LINKEDIN_API_URL", "base_url", required=False, example=DEFAULT_BASE_URL),
    Setting("LINKEDIN_VERSION", "version", required=False, default=DEFAULT_VERSION, example=DEFAULT_VERSION,
            help="the LinkedIn-Version header, YYYYMM; LinkedIn sunsets versions after about a year"),
), "connectors.sandbox.api_linkedin")
PAGE_SIZE = 50
STATS_BATCH = 20  # posts per share-statistics request (a Rest.li List in the query)

TS = pa.timestamp("us", tz="UTC")
S, INT = pa.string(), pa.int64()

POSTS = StreamSpec(SOURCE, "posts", pa.schema([
    ("post_id", S), ("snapshot_date", pa.date32()), ("observed_at", TS), ("created_at", TS), ("commentary", S),
    ("link", S), ("reaction_count", INT), ("comment_count", INT), ("share_count", INT), ("impression_count", INT)]),
    ("post_id", "snapshot_date"), reach="counters",
    description="the organisation's posts with lifetime reaction/comment/repost/impression counters, one snapshot per day")
REACTIONS = StreamSpec(SOURCE, "reactions", pa.schema([
    ("post_id", S), ("actor", S), ("reaction_type", S), ("created_at", TS)]), ("post_id", "actor"), reach="engagement",
    description="who reacted to the window's posts, how and when")
COMMENTS = StreamSpec(SOURCE, "comments", pa.schema([
    ("comment_id", S), ("post_id", S), ("actor", S), ("created_at", TS), ("message", S)]), ("comment_id",),
    reach="engagement", description="comments on the window's posts; actor is a member or organisation URN")
MENTIONS = StreamSpec(SOURCE, "mentions", pa.schema([
    ("notification_id", S), ("mentioning_post", S), ("source_post", S), ("created_at", TS)]), ("notification_id",),
    description="members' posts that mention the organisation (SHARE_MENTION notifications; LinkedIn keeps 60 days)")

VERSION_PATTERN = re.compile(r"^\d{6}(\.\d{2})?$")


def restli(value: str) -> str:
    """A Rest.li 2.0 string value: every reserved character percent-encoded (URNs: `urn%3Ali%3A...`)."""
    return quote(value, safe="")


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def _from_ms(record: Any, dotted: str, stream: str) -> datetime:
    value = require_path(record, dotted, SOURCE, stream, int)
    return datetime.fromtimestamp(value / 1000, tz=timezone.utc)


def _link(post: Mapping[str, Any]) -> str | None:
    article = post.get("content", {}).get("article") if isinstance(post.get("content"), Mapping) else None
    source = article.get("source") if isinstance(article, Mapping) else None
    return source if isinstance(source, str) else None


def _reaction_total(metadata: Mapping[str, Any]) -> int:
    """`reactionSummaries` is a map keyed by type in the fixtures seen, an array in some schemas: read both."""
    summaries = metadata.get("reactionSummaries")
    items = summaries.values() if isinstance(summaries, Mapping) else summaries if isinstance(summaries, list) else None
    if items is None:
        raise SchemaError(SOURCE, "posts", "reactionSummaries")
    total = 0
    for item in items:
        total += require_path(item, "count", SOURCE, "posts", int, name="reactionSummaries.count")
    return total


def post_from_api(r: Mapping[str, Any], metadata: Mapping[str, Any], stats: Mapping[str, Any] | None, seen_at: datetime) -> dict:
    return {
        "post_id": require(r, "id", SOURCE, "posts", str),
        "snapshot_date": seen_at.date(),
        "observed_at": seen_at,
        "created_at": _from_ms(r, "createdAt", "posts"),
        "commentary": r.get("commentary"),
        "link": _link(r),
        "reaction_count": _reaction_total(metadata),
        "comment_count": require_path(metadata, "commentSummary.count", SOURCE, "posts", int),
        # a post without activity is missing from the statistics: zeros, as LinkedIn documents
        "share_count": require_path(stats, "totalShareStatistics.shareCount", SOURCE, "posts", int) if stats else 0,
        "impression_count": require_path(stats, "totalShareStatistics.impressionCount", SOURCE, "posts", int) if stats else 0,
    }


def reaction_from_api(r: Mapping[str, Any], post_id: str) -> dict:
    return {
        "post_id": post_id,
        "actor": require_path(r, "created.actor", SOURCE, "reactions", str),
        "reaction_type": require(r, "reactionType", SOURCE, "reactions", str),
        "created_at": _from_ms(r, "created.time", "reactions"),
    }


def comment_from_api(r: Mapping[str, Any], post_id: str) -> dict:
    return {
        "comment_id": str(require(r, "id", SOURCE, "comments", (str, int))),
        "post_id": post_id,
        "actor": require_path(r, "actor", SOURCE, "comments", str, required=False),  # observed missing at times
        "created_at": _from_ms(r, "created.time", "comments"),
        "message": require_path(r, "message.text", SOURCE, "comments", str, required=False),
    }


def mention_from_api(r: Mapping[str, Any]) -> dict:
    return {
        "notification_id": str(require(r, "notificationId", SOURCE, "mentions", int)),
        "mentioning_post": require(r, "generatedActivity", SOURCE, "mentions", str),
        "source_post": require(r, "sourcePost", SOURCE, "mentions", str),
        "created_at": _from_ms(r, "lastModifiedAt", "mentions"),
    }


@dataclass
class LinkedInClient(ApiClient):
    organization_id: str = ""
    access_token: str = field(default="", repr=False)
    version: str = DEFAULT_VERSION
    page_size: int = PAGE_SIZE

    source = SOURCE
    STREAMS = (POSTS, REACTIONS, COMMENTS, MENTIONS)

    @classmethod
    def from_settings(cls, organization_id: str | None, access_token: str | None, base_url: str | None = None,
                      version: str | None = None, **kw: Any) -> LinkedInClient:
        organization_id = (organization_id or "").strip().removeprefix("urn:li:organization:")
        if not organization_id.isdigit():
            raise ConfigError("LINKEDIN_ORGANIZATION_ID must be the organisation's numeric id (the number in urn:li:organization:<id>)")
        if not (access_token or "").strip():
            raise ConfigError("LINKEDIN_ACCESS_TOKEN is empty: set it to a page administrator's access token")
        version = (version or DEFAULT_VERSION).strip()
        if not VERSION_PATTERN.match(version):
            raise ConfigError(f"LINKEDIN_VERSION must look like 202611 (YYYYMM), got {version!r}")
        return cls(base_url=validate_base_url(base_url, "LINKEDIN_API_URL", DEFAULT_BASE_URL),
                   organization_id=organization_id, access_token=access_token.strip(), version=version, **kw)

    @property
    def organization(self) -> str:
        return f"urn:li:organization:{self.organization_id}"

    # --- the API's dialect ----------------------------------------------------------------
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}", "LinkedIn-Version": self.version,
                "X-Restli-Protocol-Version": "2.0.0"}

    def secrets(self) -> tuple[str, ...]:
        return (self.access_token,)

    def error_message(self, body: Any, response: requests.Response) -> str:
        if not isinstance(body, dict) or not isinstance(body.get("message"), str):
            return super().error_message(body, response)
        details = [f"{k} {body[k]}" for k in ("code", "serviceErrorCode") if body.get(k) is not None]
        message = body["message"] + (f" [{', '.join(details)}]" if details else "")
        if response.status_code == 401:
            message += " (the access token was refused: renew LINKEDIN_ACCESS_TOKEN)"
        elif response.status_code == 426 or body.get("code") == "NONEXISTENT_VERSION":
            message += f" (LinkedIn-Version {self.version} is not active: set LINKEDIN_VERSION to a current YYYYMM)"
        elif response.status_code == 403:
            message += " (the token's member must be an ADMINISTRATOR of the organisation page)"
        return message

    # --- streams -------------------------------------------------------------------------
    def read(self, stream: str, window: Window) -> Iterator[list[dict]]:
        spec_by_name(self.STREAMS, stream)  # KeyError naming the known streams
        reader = {"posts": self._posts, "reactions": self._reactions, "comments": self._comments,
                  "mentions": self._mentions}[stream]
        for records in reader(window):
            self.page_done(stream, len(records))
            if records:
                yield records

    def _get(self, path: str, query: str, endpoint: str) -> Any:
        return self.request("GET", f"{self.base_url}{path}", endpoint=endpoint, params=query)

    def _elements(self, path: str, query: str, endpoint: str, stream: str, watch: bool = True) -> Iterator[list[dict]]:
        size = max(1, min(self.page_size, 100))

        def fetch(start: int) -> dict:
            body = self._get(path, "&".join(q for q in (query, f"start={start}&count={size}") if q), endpoint)
            if not isinstance(body, dict) or not isinstance(body.get("elements"), list):
                raise SchemaError(SOURCE, stream, "elements")
            return body

        for body in restli_pages(fetch, count=size, source=SOURCE, endpoint=endpoint, workers=self.workers):
            yield self.watch_fields(stream, body["elements"]) if watch else body["elements"]

    def _window_posts(self, window: Window, stream: str, watch: bool = False) -> Iterator[list[dict]]:
        """The organisation's posts created in [start, end), page by page (LinkedIn lists them newest first)."""
        query = f"q=author&author={restli(self.organization)}&sortBy=CREATED"
        for page in self._elements("/posts", query, "posts", stream, watch):
            in_window = [p for p in page if window.start_ts <= _from_ms(p, "createdAt", stream) < window.end_ts]
            yield in_window
            if page and all(_from_ms(p, "createdAt", stream) < window.start_ts for p in page):
                return  # newest first: every later page is older still

    def _posts(self, window: Window) -> Iterator[list[dict]]:
        seen: set[str] = set()
        for page in self._window_posts(window, "posts", watch=True):
            page = [p for p in page if require(p, "id", SOURCE, "posts", str) not in seen]
            seen.update(p["id"] for p in page)

            def statistics_of(ids: list[str]) -> Callable[[], Iterator[list]]:
                def pages() -> Iterator[list]:
                    yield [("statistics", self._share_statistics(ids))]
                return pages

            def metadata_of(post: dict) -> Callable[[], Iterator[list]]:
                def pages() -> Iterator[list]:
                    metadata = self._get(f"/socialMetadata/{restli(post['id'])}", "", "socialMetadata")
                    if not isinstance(metadata, dict):
                        raise SchemaError(SOURCE, "posts", "socialMetadata")
                    yield [(post["id"], metadata, observed_at(self.last_headers))]
                return pages

            # the page's statistics and each post's metadata are independent requests: all at once
            jobs = [statistics_of([p["id"] for p in page]), *(metadata_of(p) for p in page)]
            answers = [a for part in self.fan_out(jobs) for a in part]
            stats = next(a[1] for a in answers if a[0] == "statistics")
            found = {a[0]: a for a in answers if a[0] != "statistics"}
            yield [post_from_api(p, found[p["id"]][1], stats.get(p["id"]), found[p["id"]][2]) for p in page]

    def _share_statistics(self, post_ids: list[str]) -> dict[str, dict]:
        """Lifetime organic statistics per post: `shares=List(...)` for share URNs, `ugcPosts=List(...)` for ugcPost URNs."""
        out: dict[str, dict] = {}
        for kind, key in (("share", "shares"), ("ugcPost", "ugcPosts")):
            ids = [p for p in post_ids if p.startswith(f"urn:li:{kind}:")]
            for i in range(0, len(ids), STATS_BATCH):
                listed = ",".join(restli(p) for p in ids[i:i + STATS_BATCH])
                query = f"q=organizationalEntity&organizationalEntity={restli(self.organization)}&{key}=List({listed})"
                body = self._get("/organizationalEntityShareStatistics", query, "organizationalEntityShareStatistics")
                elements = require(body, "elements", SOURCE, "posts", list)
                for element in elements:
                    post = element.get(kind) if isinstance(element, Mapping) else None
                    if isinstance(post, str):
                        out[post] = element
        return out

    def _post_ids(self, window: Window, stream: str) -> list[str]:
        return [require(p, "id", SOURCE, stream, str) for page in self._window_posts(window, stream) for p in page]

    def _reactions(self, window: Window) -> Iterator[list[dict]]:
        def job(post_id: str) -> Callable[[], Iterator[list[dict]]]:
            def pages() -> Iterator[list[dict]]:
                seen: set[str] = set()
                query = "q=entity&sort=(value:REVERSE_CHRONOLOGICAL)"
                for page in self._elements(f"/reactions/(entity:{restli(post_id)})", query, "reactions", "reactions"):
                    records = [r for r in (reaction_from_api(x, post_id) for x in page) if r["actor"] not in seen]
                    seen.update(r["actor"] for r in records)
                    yield records
            return pages

        yield from self.fan_out([job(post_id) for post_id in self._post_ids(window, "reactions")])

    def _comments(self, window: Window) -> Iterator[list[dict]]:
        def job(post_id: str) -> Callable[[], Iterator[list[dict]]]:
            def pages() -> Iterator[list[dict]]:
                for page in self._elements(f"/socialActions/{restli(post_id)}/comments", "", "comments", "comments"):
                    yield [comment_from_api(x, post_id) for x in page]
            return pages

        seen: set[str] = set()
        for page in self.fan_out([job(post_id) for post_id in self._post_ids(window, "comments")]):
            yield first_seen(page, "comment_id", seen)

    def _mentions(self, window: Window) -> Iterator[list[dict]]:
        seen: set[str] = set()
        query = (f"q=criteria&organizationalEntity={restli(self.organization)}&actions=List(SHARE_MENTION)"
                 f"&timeRange=(start:{_ms(window.start_ts)},end:{_ms(window.end_ts)})")
        for page in self._elements("/organizationalEntityNotifications", query, "organizationalEntityNotifications",
                                   "mentions"):
            records = []
            for x in page:
                if x.get("action") not in (None, "SHARE_MENTION"):
                    continue
                record = mention_from_api(x)
                if record["notification_id"] not in seen and window.start_ts <= record["created_at"] < window.end_ts:
                    seen.add(record["notification_id"])
                    records.append(record)
            yield records

