"""X API v2: the account's posts (lifetime public_metrics as dated snapshots), mentions, replies,
liking users and reposters.

Bearer token. Timelines page with `pagination_token`, search with `next_token`; both read
`meta.next_token` and stop when it is absent (an empty page has no `data` key). 429 carries
`x-rate-limit-reset` (epoch seconds), not Retry-After: `XRetry` waits until then, within the
ceiling. A 200 may carry `errors` beside `data` (deleted or protected objects): they are kept in
`partial_errors`, not dropped silently. Real limits kept as they are: recent search covers the
last 7 days only, liking users are capped at 100 accounts per post.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import pyarrow as pa

from connectors.http import ApiClient, ApiError, ApiRetry, require, validate_base_url
from connectors.streams import StreamSpec, Window, observed_at, parse_ts

DEFAULT_BASE_URL = "https://api.x.com/2"
TS = pa.timestamp("us", tz="UTC")
S, I, L = pa.string(), pa.int64(), pa.list_(pa.string())

POSTS = StreamSpec("x", "posts", pa.schema([
    ("post_id", S), ("snapshot_date", pa.date32()), ("observed_at", TS), ("created_at", TS), ("text", S),
    ("conversation_id", S), ("urls", L), ("like_count", I), ("reply_count", I), ("retweet_count", I),
    ("quote_count", I), ("bookmark_count", I), ("impression_count", I)]), ("post_id", "snapshot_date"),
    description="the account's posts with lifetime public_metrics, one snapshot per day")
MENTIONS = StreamSpec("x", "mentions", pa.schema([
    ("mention_id", S), ("author_id", S), ("author_username", S), ("created_at", TS), ("text", S), ("conversation_id", S),
    ("in_reply_to_user_id", S), ("referenced_post_ids", L), ("urls", L)]), ("mention_id",),
    description="posts naming the account (replies to its posts included, as on the real API)")
REPLIES = StreamSpec("x", "replies", pa.schema([
    ("reply_id", S), ("post_id", S), ("author_id", S), ("author_username", S), ("created_at", TS), ("text", S),
    ("in_reply_to_user_id", S)]), ("reply_id",), description="replies in each post's conversation (recent search)")
_USERS = pa.schema([("post_id", S), ("user_id", S), ("username", S), ("observed_at", TS)])
LIKING_USERS = StreamSpec("x", "liking_users", _USERS, ("post_id", "user_id"), description="likers (capped at 100 per post by X)")
REPOSTED_BY = StreamSpec("x", "reposted_by", _USERS, ("post_id", "user_id"), description="reposting accounts")

TWEET_FIELDS = "created_at,public_metrics,entities,conversation_id,author_id,in_reply_to_user_id,referenced_tweets"


class XRetry(ApiRetry):
    """X answers 429 with the reset time of its window instead of Retry-After."""

    def get_retry_after(self, response) -> float | None:
        retry_after = super().get_retry_after(response)
        reset = response.headers.get("x-rate-limit-reset")
        if retry_after is None and response.status == 429 and reset and reset.strip().isdigit():
            return max(0.0, int(reset) - time.time()) + 0.1
        return retry_after


def _urls(tweet: dict) -> list[str]:
    return [u.get("expanded_url") or u.get("url") for u in (tweet.get("entities") or {}).get("urls", []) if u.get("expanded_url") or u.get("url")]


@dataclass
class XClient(ApiClient):
    user_id: str = ""
    bearer_token: str = ""
    page_size: int = 100
    partial_errors: list[dict] = field(default_factory=list)

    source = "x"
    retry_class = XRetry
    STREAMS = (POSTS, MENTIONS, REPLIES, LIKING_USERS, REPOSTED_BY)

    @classmethod
    def from_settings(cls, user_id: str, bearer_token: str, base_url: str | None = None, **kw: Any) -> XClient:
        return cls(base_url=validate_base_url(base_url, "X_API_URL", DEFAULT_BASE_URL), user_id=user_id, bearer_token=bearer_token, **kw)

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.bearer_token}"}

    def secrets(self) -> tuple[str, ...]:
        return (self.bearer_token,)

    def error_message(self, body: Any, response) -> str:
        if isinstance(body, dict):
            if body.get("detail") or body.get("title"):
                parts = [body.get("title"), body.get("detail")] + [e.get("message") for e in body.get("errors", []) if isinstance(e, dict)]
                return " - ".join(dict.fromkeys(p for p in parts if p))
            if body.get("errors"):
                return "; ".join(str(e.get("message")) for e in body["errors"] if isinstance(e, dict))
        return super().error_message(body, response)

    def _pages(self, path: str, endpoint: str, params: dict, token_param: str) -> Iterator[tuple[list[dict], dict]]:
        token = None
        while True:
            query = {**params, "max_results": self.page_size, **({token_param: token} if token else {})}
            body = self.request("GET", f"{self.base_url}{path}", endpoint=endpoint, params=query) or {}
            errors = body.get("errors") or []
            if errors:
                if "data" not in body and any("not-found" not in str(e.get("type", "")) for e in errors):
                    raise ApiError("x", endpoint, 200, self.error_message(body, None))
                self.partial_errors.extend(errors)
            users = {u.get("id"): u.get("username") for u in (body.get("includes") or {}).get("users", [])}
            yield body.get("data") or [], users
            token = (body.get("meta") or {}).get("next_token")
            if not token:
                return

    def _window(self, window: Window) -> dict:
        return {"start_time": window.start_ts.strftime("%Y-%m-%dT%H:%M:%SZ"), "end_time": window.end_ts.strftime("%Y-%m-%dT%H:%M:%SZ")}

    def _posts(self, window: Window) -> Iterator[list[dict]]:
        for tweets, _ in self._pages(f"/users/{self.user_id}/tweets", "users/:id/tweets",
                                     {**self._window(window), "tweet.fields": TWEET_FIELDS}, "pagination_token"):
            seen = observed_at(self.last_headers)
            yield [post_from_api(t, seen) for t in tweets]

    def read(self, stream: str, window: Window) -> Iterator[list[dict]]:
        if stream == "posts":
            for records in self._posts(window):
                yield self._page(stream, records)
        elif stream == "mentions":
            params = {**self._window(window), "tweet.fields": TWEET_FIELDS, "expansions": "author_id", "user.fields": "username"}
            for tweets, users in self._pages(f"/users/{self.user_id}/mentions", "users/:id/mentions", params, "pagination_token"):
                yield self._page(stream, [mention_from_api(t, users) for t in tweets])
        elif stream in ("replies", "liking_users", "reposted_by"):
            post_ids = [r["post_id"] for records in self._posts(window) for r in records]
            for post_id in post_ids:
                yield from self._per_post(stream, post_id, window)
        else:
            raise KeyError(stream)

    def _per_post(self, stream: str, post_id: str, window: Window) -> Iterator[list[dict]]:
        if stream == "replies":
            params = {"query": f"conversation_id:{post_id}", "tweet.fields": TWEET_FIELDS, "expansions": "author_id",
                      "user.fields": "username", "start_time": window.start_ts.strftime("%Y-%m-%dT%H:%M:%SZ")}
            for tweets, users in self._pages("/tweets/search/recent", "tweets/search/recent", params, "next_token"):
                yield self._page(stream, [reply_from_api(t, post_id, users) for t in tweets if t.get("id") != post_id])
            return
        path = "liking_users" if stream == "liking_users" else "retweeted_by"
        for users, _ in self._pages(f"/tweets/{post_id}/{path}", f"tweets/:id/{path}", {"user.fields": "username"}, "pagination_token"):
            seen = observed_at(self.last_headers)
            yield self._page(stream, [{"post_id": post_id, "user_id": require(u, "id", "x", stream, str),
                                       "username": u.get("username"), "observed_at": seen} for u in users])

    def _page(self, stream: str, records: list[dict]) -> list[dict]:
        self.page_done(stream, len(records))
        return records


def post_from_api(t: dict, seen) -> dict:
    metrics = require(t, "public_metrics", "x", "posts", dict)
    count = lambda k: require(metrics, k, "x", "posts.public_metrics", int)  # noqa: E731
    return {
        "post_id": require(t, "id", "x", "posts", str), "snapshot_date": seen.date(), "observed_at": seen,
        "created_at": parse_ts(require(t, "created_at", "x", "posts", str)), "text": t.get("text"),
        "conversation_id": t.get("conversation_id"), "urls": _urls(t), "like_count": count("like_count"),
        "reply_count": count("reply_count"), "retweet_count": count("retweet_count"), "quote_count": count("quote_count"),
        "bookmark_count": metrics.get("bookmark_count"), "impression_count": metrics.get("impression_count"),
    }


def mention_from_api(t: dict, users: dict) -> dict:
    author = require(t, "author_id", "x", "mentions", str)
    return {
        "mention_id": require(t, "id", "x", "mentions", str), "author_id": author, "author_username": users.get(author),
        "created_at": parse_ts(require(t, "created_at", "x", "mentions", str)), "text": t.get("text"),
        "conversation_id": t.get("conversation_id"), "in_reply_to_user_id": t.get("in_reply_to_user_id"),
        "referenced_post_ids": [r.get("id") for r in t.get("referenced_tweets") or [] if r.get("id")], "urls": _urls(t),
    }


def reply_from_api(t: dict, post_id: str, users: dict) -> dict:
    author = require(t, "author_id", "x", "replies", str)
    return {
        "reply_id": require(t, "id", "x", "replies", str), "post_id": t.get("conversation_id") or post_id, "author_id": author,
        "author_username": users.get(author), "created_at": parse_ts(require(t, "created_at", "x", "replies", str)),
        "text": t.get("text"), "in_reply_to_user_id": t.get("in_reply_to_user_id"),
    }
