"""X API v2: the account's posts (lifetime public_metrics as dated snapshots), mentions, replies,
liking users and reposters.

Auth is an app-only `Authorization: Bearer` token; it never appears in a URL or an error text.

Paging: timelines and user lists take `pagination_token`, recent search takes `next_token`;
both read `meta.next_token` from the previous answer and stop when it is absent. An empty page
is `{"meta": {"result_count": 0}}` with no `data` key. `max_results` is clamped to each
endpoint's range (timelines 5-100, search 10-100, user lists 1-100). Records repeated across
pages are dropped (first copy wins), and a `next_token` that repeats stops the run.

Windows: timelines get `start_time`/`end_time` at the window's bounds. X treats both as
inclusive, so a post created exactly at the window's end is also filtered out here: it belongs
to the next window.

Rate limits: X answers 429 with `x-rate-limit-reset` (epoch seconds) and no Retry-After.
`XRetry` waits until that reset (or until a spent 24-hour window's reset) when it is within the
policy's `max_wait`, and fails with an ApiError naming the wait when it is not; a Retry-After
header, if X ever sends one, still wins. Only 429s read the reset: X sends the headers on every
answer, and a 503 must not wait out a 15-minute window. Better still, no 429 at all: the client
remembers each endpoint's `x-rate-limit-remaining` and, when a window is spent, waits for its
reset before the next call (liking users allow 75 calls per 15 minutes; a daily run that re-reads
a month of posts must pace itself, not hammer and back off). Per-post reads (replies, likers,
reposters) run on up to `WORKERS` threads (X documents no limit on simultaneous requests): each call
takes one of the window's remaining calls before it is sent, so calls in flight together never
spend more than the window has left.

Partial errors: a 200 may carry `errors` beside `data`, or instead of it, for objects that are
deleted, suspended or protected. They are never dropped silently: each one is appended to
`partial_errors` (stream, endpoint, resource type/id, title, detail, type) and logged. An answer
with `errors` but no `data` fails unless every error is resource-not-found (a post deleted since
the timeline was read); a not-found for the configured account itself fails naming X_USER_ID.

Real limits the connector keeps as they are (the sandbox is more lenient for the first):
* `replies` uses recent search (`conversation_id:<post id>`), which reaches only the last
  **7 days**: replies to older posts are found only by runs within 7 days of the reply (run
  daily); the full archive (`/2/tweets/search/all`) needs a higher access tier. No start_time is
  sent, so X's default (7 days back) applies; the root post matches its own conversation and is
  skipped.
* `liking_users` returns at most **100 accounts per post, for all time** (and, since 2024, likes
  are private outside the author's own user context); `reposted_by` reaches roughly the most
  recent 100 reposters. Use `posts.like_count` for counts, these streams for identities.
* The timeline reaches only the 3,200 most recent posts, mentions the 800 most recent.

Counters are lifetime totals: `posts` stores them as snapshots keyed by (post_id, snapshot_date),
dated by the API's own Date header, so day-over-day deltas can be computed downstream.
X's published spec makes `public_metrics.impression_count` required and `quote_count` optional:
a post without impressions fails naming the field, one without quotes stores NULL.

X's published API description lists only user-context auth (OAuth 2.0 with `like.read`, or OAuth
1.0a) on `liking_users`; the app-only bearer reads everything else. With X_USER_ACCESS_TOKEN set,
that stream sends it; without it the stream is skipped with a note in `run_facts` (the asset's
metadata and log show it), never a failed run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import requests

from connectors.http import (
    ApiClient,
    ApiError,
    ApiRetry,
    ConfigError,
    SchemaError,
    validate_base_url,
)
from connectors.pages import token_pages
from connectors.records import first_seen, observed_at, require, require_path, require_ts
from connectors.sources import Setting, Source
from connectors.streams import StreamSpec, Window

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.x.com/2"
DECLARATION = Source("x", "X API v2", "connectors.x:XClient", (
    Setting("X_USER_ID", "user_id", help="the account's numeric id"),
    Setting("X_BEARER_TOKEN", "bearer_token", help="app-only bearer token"),
    Setting("X_API_URL", "base_url", required=False, example=DEFAULT_BASE_URL),
    Setting("X_USER_ACCESS_TOKEN", "user_access_token", required=False,
            help="OAuth 2.0 user-context token (like.read): X allows only user context on liking_users; without it that stream is skipped"),
), "connectors.sandbox.api_x")
USER_CONTEXT_STREAMS = frozenset({"liking_users"})  # X's spec lists no app-only Bearer on these endpoints
MAX_PAGE_SIZE = 100
# max_results ranges X accepts per endpoint family (anything outside is a 400)
TIMELINE_SIZES, SEARCH_SIZES, USER_LIST_SIZES = (5, 100), (10, 100), (1, 100)
LIKERS_CAP = 100  # X returns at most 100 liking accounts per post, for all time

POST_FIELDS = "created_at,public_metrics,entities,conversation_id"
MENTION_FIELDS = "created_at,entities,conversation_id,author_id,in_reply_to_user_id,referenced_tweets"
REPLY_FIELDS = "created_at,author_id,conversation_id,in_reply_to_user_id"
NOT_FOUND_PROBLEM = "resource-not-found"
RATE_LIMIT_HEADERS = ("x-rate-limit", "x-app-limit-24hour", "x-user-limit-24hour")

TS = pa.timestamp("us", tz="UTC")
S, INT, STRINGS = pa.string(), pa.int64(), pa.list_(pa.string())

POSTS = StreamSpec("x", "posts", pa.schema([
    ("post_id", S), ("snapshot_date", pa.date32()), ("observed_at", TS), ("created_at", TS), ("text", S),
    ("conversation_id", S), ("urls", STRINGS), ("like_count", INT), ("reply_count", INT), ("retweet_count", INT),
    ("quote_count", INT), ("bookmark_count", INT), ("impression_count", INT)]),
    ("post_id", "snapshot_date"), strategy="merge", reach="counters",
    description="the account's posts created in the window with lifetime public_metrics, one snapshot per day "
                "(dated by the API's Date header); quote_count is NULL when X omits it (optional in its spec)")
MENTIONS = StreamSpec("x", "mentions", pa.schema([
    ("mention_id", S), ("author_id", S), ("author_username", S), ("created_at", TS), ("text", S),
    ("conversation_id", S), ("in_reply_to_user_id", S), ("referenced_post_ids", STRINGS), ("urls", STRINGS)]),
    ("mention_id",), strategy="merge",
    description="posts naming the account, created in the window; replies to the account's posts are mentions "
                "too (tell them apart by conversation_id); only the 800 most recent are reachable")
REPLIES = StreamSpec("x", "replies", pa.schema([
    ("reply_id", S), ("post_id", S), ("author_id", S), ("author_username", S), ("created_at", TS), ("text", S),
    ("in_reply_to_user_id", S)]),
    ("reply_id",), strategy="merge", reach="engagement",
    description="replies in the conversation of each post created in the window (recent search: last 7 days only)")
_ACCOUNTS = pa.schema([("post_id", S), ("user_id", S), ("username", S), ("observed_at", TS)])
LIKING_USERS = StreamSpec("x", "liking_users", _ACCOUNTS, ("post_id", "user_id"), strategy="merge", reach="engagement",
                          description="accounts that liked each post of the window; X caps this at 100 per post "
                                      "for all time; likes carry no time, observed_at is when they were seen")
REPOSTED_BY = StreamSpec("x", "reposted_by", _ACCOUNTS, ("post_id", "user_id"), strategy="merge", reach="engagement",
                         description="accounts that reposted each post of the window (about the 100 most recent); "
                                     "observed_at is when they were seen")


def rate_limit_wait(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds until X's spent rate-limit window resets (epoch-second headers), None when X names none.

    `x-rate-limit-reset` is the 15-minute (or per-endpoint) window a 429 refers to; a 24-hour
    window (`x-app-limit-24hour-*`, `x-user-limit-24hour-*`) counts only when it is spent.
    """
    now = time.time() if now is None else now
    resets = []
    for prefix in RATE_LIMIT_HEADERS:
        reset = (headers.get(f"{prefix}-reset") or "").strip()
        if not reset.isdigit():
            continue
        if prefix != "x-rate-limit" and (headers.get(f"{prefix}-remaining") or "").strip() != "0":
            continue
        resets.append(int(reset))
    if not resets:
        return None
    return max(0.0, max(resets) - now)


class XRetry(ApiRetry):
    """X answers 429 with the reset time of its window instead of Retry-After: wait until then.

    ApiRetry.sleep_for_retry raises RateLimitTooLong when the wait exceeds the policy's ceiling
    (the shared loop turns that into an ApiError naming the wait). A reset already past is 0:
    urllib3 then backs off as for any 429.
    """

    def get_retry_after(self, response) -> float | None:
        retry_after = super().get_retry_after(response)
        if retry_after is not None or response.status != 429:
            return retry_after
        return rate_limit_wait(response.headers)


# --- records -----------------------------------------------------------------------------------
def _path(record: Any, dotted: str, stream: str, kind: type | tuple[type, ...] | None = None, required: bool = True) -> Any:
    return require_path(record, dotted, "x", stream, kind, required)


def _ts(record: Mapping[str, Any], key: str, stream: str) -> datetime:
    return require_ts(record, key, "x", stream)


def _urls(record: Mapping[str, Any], stream: str) -> list[str]:
    """entities.urls[].expanded_url (the t.co link itself when X gives no expansion)."""
    urls = _path(record, "entities.urls", stream, list, required=False) or []
    out = []
    for i, entry in enumerate(urls):
        if not isinstance(entry, Mapping):
            raise SchemaError("x", stream, f"entities.urls.{i}", f"of type {type(entry).__name__}")
        url = entry.get("expanded_url") or entry.get("url")
        if isinstance(url, str) and url:
            out.append(url)
    return out


def _referenced_ids(record: Mapping[str, Any], stream: str) -> list[str]:
    refs = _path(record, "referenced_tweets", stream, list, required=False) or []
    return [_path({"referenced_tweets": {str(i): ref}}, f"referenced_tweets.{i}.id", stream, str) for i, ref in enumerate(refs)]


def post_from_api(r: Mapping[str, Any], seen_at: datetime) -> dict:
    def count(name: str, required: bool = True) -> int | None:
        return _path(r, f"public_metrics.{name}", "posts", int, required)

    return {
        "post_id": require(r, "id", "x", "posts", str),
        "snapshot_date": seen_at.date(),
        "observed_at": seen_at,
        "created_at": _ts(r, "created_at", "posts"),
        "text": require(r, "text", "x", "posts", str),
        "conversation_id": _path(r, "conversation_id", "posts", str, required=False),
        "urls": _urls(r, "posts"),
        "like_count": count("like_count"),
        "reply_count": count("reply_count"),
        "retweet_count": count("retweet_count"),
        "quote_count": count("quote_count", required=False),  # optional in X's published spec
        "bookmark_count": count("bookmark_count"),
        "impression_count": count("impression_count"),  # required in X's published spec
    }


def mention_from_api(r: Mapping[str, Any], usernames: Mapping[str, str]) -> dict:
    author = require(r, "author_id", "x", "mentions", str)
    return {
        "mention_id": require(r, "id", "x", "mentions", str),
        "author_id": author,
        "author_username": usernames.get(author),
        "created_at": _ts(r, "created_at", "mentions"),
        "text": require(r, "text", "x", "mentions", str),
        "conversation_id": _path(r, "conversation_id", "mentions", str, required=False),
        "in_reply_to_user_id": _path(r, "in_reply_to_user_id", "mentions", str, required=False),
        "referenced_post_ids": _referenced_ids(r, "mentions"),
        "urls": _urls(r, "mentions"),
    }


def reply_from_api(r: Mapping[str, Any], post_id: str, usernames: Mapping[str, str]) -> dict:
    author = require(r, "author_id", "x", "replies", str)
    return {
        "reply_id": require(r, "id", "x", "replies", str),
        "post_id": post_id,
        "author_id": author,
        "author_username": usernames.get(author),
        "created_at": _ts(r, "created_at", "replies"),
        "text": require(r, "text", "x", "replies", str),
        "in_reply_to_user_id": _path(r, "in_reply_to_user_id", "replies", str, required=False),
    }


def account_from_api(r: Mapping[str, Any], post_id: str, seen_at: datetime, stream: str) -> dict:
    return {
        "post_id": post_id,
        "user_id": require(r, "id", "x", stream, str),
        "username": require(r, "username", "x", stream, str),
        "observed_at": seen_at,
    }


def _usernames(body: Mapping[str, Any], stream: str) -> dict[str, str]:
    users = _path(body, "includes.users", stream, list, required=False) or []
    return {u["id"]: u.get("username") for u in users if isinstance(u, Mapping) and isinstance(u.get("id"), str)}


def _is_not_found(error: Any) -> bool:
    return isinstance(error, Mapping) and str(error.get("type", "")).rstrip("/").rsplit("/", 1)[-1] == NOT_FOUND_PROBLEM


def _rfc3339(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- client ------------------------------------------------------------------------------------
@dataclass
class XClient(ApiClient):
    user_id: str = ""
    bearer_token: str = field(default="", repr=False)
    user_access_token: str = field(default="", repr=False)  # user context: the only auth X allows on liking_users
    page_size: int = MAX_PAGE_SIZE
    partial_errors: list[dict] = field(default_factory=list)
    # endpoint -> (remaining, reset epoch seconds) from X's headers on its latest answer
    rate_state: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False)
    rate_waits: float = 0.0  # seconds spent waiting for a spent window to reset
    skipped: dict[str, str] = field(default_factory=dict)  # stream -> why this client could not read it

    source = "x"
    retry_class = XRetry  # X's 429 dialect: wait for x-rate-limit-reset
    STREAMS = (POSTS, MENTIONS, REPLIES, LIKING_USERS, REPOSTED_BY)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._rate_lock = threading.Condition()
        self._sent: dict[str, int] = {}  # endpoint -> calls sent whose answer has not come back yet
        self._answered: set[str] = set()  # endpoints whose window this client has heard about
        self._least_left: dict[str, tuple[int, int]] = {}  # endpoint -> (window's reset, smallest remaining X gave)

    @classmethod
    def from_settings(cls, user_id: str | None, bearer_token: str | None, base_url: str | None = None,
                      page_size: int = MAX_PAGE_SIZE, user_access_token: str | None = None, **kw: Any) -> XClient:
        user_id = (user_id or "").strip()
        if not user_id.isdigit():
            raise ConfigError("X_USER_ID must be the account's numeric id, not its @handle "
                              "(look it up with GET /2/users/by/username/<handle>)")
        if not (bearer_token or "").strip():
            raise ConfigError("X_BEARER_TOKEN is empty: set it to the app's bearer token")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ConfigError(f"X page size must be between 1 and {MAX_PAGE_SIZE} (got {page_size})")
        return cls(base_url=validate_base_url(base_url, "X_API_URL", DEFAULT_BASE_URL), user_id=user_id,
                   bearer_token=bearer_token.strip(), page_size=page_size,
                   user_access_token=(user_access_token or "").strip(), **kw)

    # --- the API's dialect ----------------------------------------------------------------
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.bearer_token}"}

    def secrets(self) -> tuple[str, ...]:
        # tokens copied from the developer portal are URL-encoded (%3D): hide both spellings
        tokens = (self.bearer_token, unquote(self.bearer_token), self.user_access_token, unquote(self.user_access_token))
        return tuple(dict.fromkeys(t for t in tokens if t))

    def error_message(self, body: Any, response: requests.Response | None) -> str:
        """Problem details (`title`, `detail`) and the first of `errors[]` (v2 `message`/`detail`, v1 `message`+`code`)."""
        parts: list[str] = []
        if isinstance(body, dict):
            for key in ("title", "detail"):
                value = body.get(key)
                if isinstance(value, str) and value and value not in parts:
                    parts.append(value)
            errors = body.get("errors")
            if isinstance(errors, list) and errors and isinstance(errors[0], dict):
                first = errors[0]
                if isinstance(first.get("message"), str) and first["message"]:
                    code = first.get("code")
                    parts.append(f"{first['message']} (code {code})" if code is not None else first["message"])
                else:  # a partial error: problem details of its own
                    parts += [v for v in (first.get("title"), first.get("detail")) if isinstance(v, str) and v and v not in parts]
                if len(errors) > 1:
                    parts.append(f"and {len(errors) - 1} more error(s)")
        message = " - ".join(parts) if parts else (response.reason if response is not None and response.reason else "error")
        if response is not None and response.status_code == 401:
            sent = response.request.headers.get("Authorization", "") if response.request is not None else ""
            user = bool(self.user_access_token) and sent == f"Bearer {self.user_access_token}"
            message += (" (the user-context token was refused: check X_USER_ACCESS_TOKEN)" if user
                        else " (the bearer token was refused: check X_BEARER_TOKEN)")
        return message

    def request(self, method: str, url: str, *, endpoint: str, **kw: Any) -> Any:
        """One request, after waiting for the endpoint's window to reset if the calls sent have spent it."""
        self._take_call(endpoint)
        try:
            body = super().request(method, url, endpoint=endpoint, **kw)
        except BaseException:
            with self._rate_lock:
                self._sent[endpoint] -= 1
                self._rate_lock.notify_all()
            raise
        left, resets = (self.last_headers.get(f"x-rate-limit-{k}", "") for k in ("remaining", "reset"))
        with self._rate_lock:
            self._sent[endpoint] -= 1
            self._answered.add(endpoint)
            if left.strip().isdigit() and resets.strip().isdigit():
                known, window = self.rate_state.get(endpoint), int(resets)
                least = self._least_left.get(endpoint)
                # the smallest count X gave in a window is its latest: answers may come back out of order
                least = min(int(left), least[1]) if least is not None and least[0] == window else int(left)
                self._least_left[endpoint] = (window, least)
                # calls still in flight may not be in X's count yet: take them off, and keep calls already taken
                remaining = least - self._sent[endpoint]
                if self._sent[endpoint] and known is not None and known[1] == window:
                    remaining = min(remaining, known[0])
                self.rate_state[endpoint] = (remaining, window)
            self._rate_lock.notify_all()
        return body

    def _take_call(self, endpoint: str) -> None:
        """Take one of the endpoint's remaining calls, waiting for its window to reset if none is left."""
        while True:
            with self._rate_lock:
                # until an answer tells what is left of the window, one call at a time
                while endpoint not in self._answered and self._sent.get(endpoint, 0) > 0:
                    self._rate_lock.wait(timeout=1.0)
                state = self.rate_state.get(endpoint)
                wait = state[1] - time.time() if state is not None else 0.0
                if state is not None and wait <= 0:  # that window is over: the next one's room is unknown
                    del self.rate_state[endpoint]
                    self._answered.discard(endpoint)
                    continue
                if state is None or state[0] > 0:
                    if state is not None:
                        self.rate_state[endpoint] = (state[0] - 1, state[1])
                    self._sent[endpoint] = self._sent.get(endpoint, 0) + 1
                    return
            if wait > self.policy.max_wait:
                raise ApiError(self.source, endpoint, 429, f"rate limit spent: the window resets in {wait:.0f} s, longer "
                                                           f"than the {self.policy.max_wait:.0f} s ceiling; retry after that")
            log.info("x: %s rate limit spent; waiting %.0f s for its window to reset", endpoint, wait)
            with self._rate_lock:
                self.rate_waits += wait
            self.wait(wait)

    def run_facts(self, stream: str) -> dict[str, Any]:
        facts: dict[str, Any] = {}
        if stream in self.skipped:
            facts["skipped"] = self.skipped[stream]
        errors = [e for e in self.partial_errors if e["stream"] == stream]
        if errors:
            facts["partial_errors"] = len(errors)
            facts["partial_error_resources"] = ", ".join(sorted({f"{e['resource_type']} {e['resource_id']}" for e in errors}))
        return facts

    # --- streams -------------------------------------------------------------------------
    def read(self, stream: str, window: Window) -> Iterator[list[dict]]:
        readers = {"posts": self._posts, "mentions": self._mentions, "replies": self._replies,
                   "liking_users": lambda w: self._accounts("liking_users", w),
                   "reposted_by": lambda w: self._accounts("reposted_by", w)}
        if stream not in readers:
            raise KeyError(f"unknown stream {stream!r}; known: {', '.join(readers)}")
        yield from readers[stream](window)

    def _timeline_params(self, window: Window, fields: str) -> dict[str, str]:
        # X treats both bounds as inclusive: records are filtered to [start, end) as well
        return {"start_time": _rfc3339(window.start_ts), "end_time": _rfc3339(window.end_ts), "tweet.fields": fields}

    def _posts(self, window: Window) -> Iterator[list[dict]]:
        seen: set[str] = set()
        for data, _ in self._pages(f"/users/{self.user_id}/tweets", "users/:id/tweets",
                                   self._timeline_params(window, POST_FIELDS), "pagination_token", TIMELINE_SIZES, "posts"):
            at = observed_at(self.last_headers)
            records = []
            for r in data:
                record = post_from_api(r, at)
                if record["post_id"] not in seen and window.start_ts <= record["created_at"] < window.end_ts:
                    seen.add(record["post_id"])
                    records.append(record)
            yield from self._emit("posts", records)

    def _mentions(self, window: Window) -> Iterator[list[dict]]:
        seen: set[str] = set()
        params = {**self._timeline_params(window, MENTION_FIELDS), "expansions": "author_id", "user.fields": "username"}
        for data, users in self._pages(f"/users/{self.user_id}/mentions", "users/:id/mentions", params,
                                       "pagination_token", TIMELINE_SIZES, "mentions"):
            records = []
            for r in data:
                record = mention_from_api(r, users)
                if record["mention_id"] not in seen and window.start_ts <= record["created_at"] < window.end_ts:
                    seen.add(record["mention_id"])
                    records.append(record)
            yield from self._emit("mentions", records)

    def _replies(self, window: Window) -> Iterator[list[dict]]:
        def job(post_id: str) -> Callable[[], Iterator[list[dict]]]:
            def pages() -> Iterator[list[dict]]:
                # no start_time: X's recent search then reaches its full 7 days (an older one is a 400)
                params = {"query": f"conversation_id:{post_id}", "tweet.fields": REPLY_FIELDS, "expansions": "author_id",
                          "user.fields": "username"}
                for data, users in self._pages("/tweets/search/recent", "tweets/search/recent", params, "next_token",
                                               SEARCH_SIZES, "replies"):
                    # the root post is part of its own conversation
                    yield [reply_from_api(r, post_id, users) for r in data if require(r, "id", "x", "replies", str) != post_id]
            return pages

        seen: set[str] = set()
        for page in self.fan_out([job(post_id) for post_id in self._post_ids(window, "replies")]):
            yield from self._emit("replies", first_seen(page, "reply_id", seen))

    def _accounts(self, stream: str, window: Window) -> Iterator[list[dict]]:
        path = "liking_users" if stream == "liking_users" else "retweeted_by"
        headers = None
        if stream in USER_CONTEXT_STREAMS:
            if not self.user_access_token:
                self.skipped[stream] = ("skipped: X allows only user-context tokens on liking_users; set X_USER_ACCESS_TOKEN "
                                        "(OAuth 2.0, scope like.read) to read likers. Like counts still come from the posts")
                return  # the wiring shows run_facts' note (metadata and one log line)
            headers = {"Authorization": f"Bearer {self.user_access_token}"}
        def job(post_id: str) -> Callable[[], Iterator[list[dict]]]:
            def pages() -> Iterator[list[dict]]:
                seen: set[str] = set()
                for data, _ in self._pages(f"/tweets/{post_id}/{path}", f"tweets/:id/{path}", {"user.fields": "username"},
                                           "pagination_token", USER_LIST_SIZES, stream, headers=headers):
                    at = observed_at(self.last_headers)
                    records = []
                    for r in data:
                        record = account_from_api(r, post_id, at, stream)
                        if record["user_id"] not in seen:
                            seen.add(record["user_id"])
                            records.append(record)
                    yield records
            return pages

        for records in self.fan_out([job(post_id) for post_id in self._post_ids(window, stream)]):
            yield from self._emit(stream, records)

    def _post_ids(self, window: Window, stream: str) -> list[str]:
        """Ids of the account's posts created in [start, end), newest first (the timeline's order)."""
        ids: dict[str, None] = {}
        for data, _ in self._pages(f"/users/{self.user_id}/tweets", "users/:id/tweets",
                                   self._timeline_params(window, "created_at"), "pagination_token", TIMELINE_SIZES, stream,
                                   watch=False):  # a listing: only its ids are wanted
            for r in data:
                post_id = require(r, "id", "x", stream, str)
                if window.start_ts <= _ts(r, "created_at", stream) < window.end_ts:
                    ids.setdefault(post_id)
        return list(ids)

    def _emit(self, stream: str, records: list[dict]) -> Iterator[list[dict]]:
        self.page_done(stream, len(records))
        if records:
            yield records

    # --- paging --------------------------------------------------------------------------
    def _pages(self, path: str, endpoint: str, params: Mapping[str, str], token_param: str,
               sizes: tuple[int, int], stream: str, watch: bool = True,
               headers: Mapping[str, str] | None = None) -> Iterator[tuple[list[dict], dict[str, str]]]:
        """(data, usernames from includes.users) per page, following meta.next_token until it is absent."""
        size = max(sizes[0], min(sizes[1], self.page_size))

        def fetch(token: str | None) -> dict:
            query = {**params, "max_results": size, **({token_param: token} if token else {})}
            body = self.request("GET", f"{self.base_url}{path}", endpoint=endpoint, params=query, headers=headers)
            if not isinstance(body, dict):
                raise SchemaError("x", stream, "meta", "missing (the answer is not a JSON object)")
            return body

        for body in token_pages(fetch, next_token=lambda b: _path(b, "meta.next_token", stream, str, required=False),
                                source=self.source, endpoint=endpoint, what="meta.next_token"):
            data = self._data(body, endpoint, stream)
            yield (self.watch_fields(stream, data) if watch else data), _usernames(body, stream)

    def _data(self, body: Mapping[str, Any], endpoint: str, stream: str) -> list[dict]:
        """The page's `data`, after recording any partial `errors` (raising when they replace the data)."""
        errors = body.get("errors")
        data = body.get("data")
        if errors:
            if not isinstance(errors, list):
                raise SchemaError("x", stream, "errors", f"of type {type(errors).__name__}")
            if data is None:
                if not all(_is_not_found(e) for e in errors):
                    raise ApiError(self.source, endpoint, 200, self.error_message(dict(body), None))
                if any(e.get("resource_type") == "user" and str(e.get("resource_id") or e.get("value")) == self.user_id
                       for e in errors):
                    raise ApiError(self.source, endpoint, 200, f"{self.error_message(dict(body), None)} "
                                   f"(X_USER_ID {self.user_id} is not an existing X account id)")
            for e in errors:
                self._record_partial_error(e, stream, endpoint)
        if data is None:
            return []
        if not isinstance(data, list):
            raise SchemaError("x", stream, "data", f"of type {type(data).__name__}")
        return data

    def _record_partial_error(self, error: Any, stream: str, endpoint: str) -> None:
        e = error if isinstance(error, Mapping) else {"detail": str(error)}
        entry = {
            "stream": stream, "endpoint": endpoint, "resource_type": e.get("resource_type"),
            "resource_id": str(e.get("resource_id") or e.get("value") or "") or None,
            "title": e.get("title"), "detail": e.get("detail") or e.get("message"), "type": e.get("type"),
        }
        self.partial_errors.append(entry)
        log.warning("x.%s: %s answered with a partial error for %s %s: %s", stream, endpoint,
                    entry["resource_type"] or "object", entry["resource_id"] or "?", entry["detail"] or entry["title"])
