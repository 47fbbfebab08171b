"""Sandbox routes for X API v2: the account's timeline, mentions, recent search, liking users, reposters.

Everything is answered as of the server's clock (`req.now`): posts created after it do not exist
yet, interactions after it have not happened, `public_metrics` count what happened until then.

Wire behaviours imitated, as X API v2 has them:
* `Authorization: Bearer` checked first; a wrong token is 401 with X's problem body.
* Field selection: a tweet carries `id`, `text`, `edit_history_tweet_ids` plus what `tweet.fields`
  asks for (`author_id` also comes with `expansions=author_id`); users carry `id`, `name`,
  `username` plus `user.fields`; `includes.users` only with `expansions=author_id`. An unknown
  field name, an unknown query parameter, an out-of-range `max_results` or an invalid paging
  token is a 400 problem body. Paging parameters are strict: `next_token` on a timeline and
  `pagination_token` on search are both 400s here (X documents only `next_token` for search).
* Paging: opaque tokens in `meta.next_token`, sent back as `pagination_token` on timelines and
  user lists but as `next_token` on search; an empty page is `{"meta": {"result_count": 0}}`.
* Time filters: timelines treat `start_time` and `end_time` as inclusive (as X documents);
  search treats `end_time` as exclusive. Unlike X, search answers any `start_time` (X's recent
  search only reaches 7 days back) so the fixed world stays readable.
* Recent search for `conversation_id:<id>` finds the root post too (its conversation_id is its
  own id), as on X; replies are also mentions of the account.
* Liking users: most recent likers first, at most 100 per post across all pages (X's cap).
* A post or user that does not exist (yet) is an HTTP 200 with only `errors` (resource-not-found).
* Rate limits per endpoint and 15-minute window (app-only figures X publishes: liking users and
  reposters 75, mentions and recent search 450, timelines 10,000), counted in real time, every
  answer carrying `x-rate-limit-limit/-remaining/-reset`; a call over the limit is X's 429.
  `server.rate_windows` counts calls per window so tests can prove a client stayed within them.
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from connectors.sandbox.faults import page_bounds
from connectors.sandbox.routing import Limits, Rate, Request, Response, route
from connectors.sandbox.world import X_ACCOUNT_ID, X_ACCOUNT_USERNAME, Post

LIKERS_CAP = 100
PROBLEMS = "https://api.twitter.com/2/problems"
DEFAULT_TWEET_FIELDS = frozenset({"id", "text", "edit_history_tweet_ids"})
DEFAULT_USER_FIELDS = frozenset({"id", "name", "username"})
TWEET_FIELDS = frozenset({
    "article", "attachments", "author_id", "card_uri", "community_id", "context_annotations", "conversation_id",
    "created_at", "display_text_range", "edit_controls", "edit_history_tweet_ids", "entities", "geo", "id",
    "in_reply_to_user_id", "lang", "non_public_metrics", "note_tweet", "organic_metrics", "possibly_sensitive",
    "promoted_metrics", "public_metrics", "referenced_tweets", "reply_settings", "scopes", "source", "text", "withheld",
})
USER_FIELDS = frozenset({
    "affiliation", "confirmed_email", "connection_status", "created_at", "description", "entities", "id",
    "is_identity_verified", "location", "most_recent_tweet_id", "name", "parody", "pinned_tweet_id",
    "profile_banner_url", "profile_image_url", "protected", "public_metrics", "receives_your_dm", "subscription",
    "subscription_type", "url", "username", "verified", "verified_followers_count", "verified_type", "withheld",
})
EXPANSIONS = frozenset({"author_id", "referenced_tweets.id", "in_reply_to_user_id", "entities.mentions.username"})
_FIELD_PARAMS = {"expansions", "tweet.fields", "user.fields", "media.fields", "place.fields", "poll.fields"}
# query parameters each route family accepts; X answers any other with a 400
TIMELINE_PARAMS = frozenset({"start_time", "end_time", "since_id", "until_id", "max_results", "pagination_token",
                             "exclude", *_FIELD_PARAMS})
SEARCH_PARAMS = frozenset({"query", "start_time", "end_time", "since_id", "until_id", "max_results", "next_token",
                           "sort_order", *_FIELD_PARAMS})
USER_LIST_PARAMS = frozenset({"max_results", "pagination_token", *_FIELD_PARAMS})


def _error(status: int, message: str, code: int | None = None) -> dict:
    """X's whole-request problem body (what fault injection sends for 429 and 5xx)."""
    title = {400: "Invalid Request", 401: "Unauthorized", 403: "Forbidden", 429: "Too Many Requests",
             500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}.get(status, "Error")
    detail = message if status >= 500 else title
    return {"title": title, "detail": detail, "type": "about:blank", "status": status}


CREDENTIALS = {"x_bearer": "sandbox-x-bearer-token", "x_user_token": "sandbox-x-user-context-token"}  # what this fake accepts (see server.Credentials)


def exports(url: str, credentials: Any) -> dict[str, str]:
    """The connector settings that point the client at a sandbox serving at `url`."""
    return {"X_USER_ID": X_ACCOUNT_ID, "X_BEARER_TOKEN": credentials.x_bearer, "X_API_URL": f"{url}/2",
            "X_USER_ACCESS_TOKEN": credentials.x_user_token}


error_body = _error  # the server answers injected faults with it


def limits(world: Any) -> Limits:
    """X limits calls per endpoint and 15-minute window (RateWindows below, with X's reset headers);
    it documents no limit on simultaneous requests."""
    return Limits()


def throttled(rate: Rate | None, retry_in: float) -> Response:
    return Response(429, _error(429, "Too Many Requests"))


class _Invalid(Exception):
    """A request parameter X would reject: becomes the 400 invalid-request body."""

    def __init__(self, parameter: str, value: str, message: str):
        self.parameter, self.value, self.message = parameter, value, message


def _invalid_response(exc: _Invalid) -> Response:
    return Response(400, {
        "errors": [{"parameters": {exc.parameter: [exc.value]}, "message": exc.message}],
        "title": "Invalid Request", "detail": "One or more parameters to your request was invalid.",
        "type": f"{PROBLEMS}/invalid-request"})


def _not_found(resource_type: str, resource_id: str, parameter: str = "id") -> Response:
    return Response(200, {"errors": [{
        "value": resource_id, "detail": f"Could not find {resource_type} with {parameter}: [{resource_id}].",
        "title": "Not Found Error", "resource_type": resource_type, "parameter": parameter,
        "resource_id": resource_id, "type": f"{PROBLEMS}/resource-not-found"}]})


def _iso(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _arg_ts(req: Request, name: str) -> datetime | None:
    value = req.arg(name)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _Invalid(name, value, f"Invalid '{name}':'{value}'. '{name}' must be a valid RFC3339 date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def _field_list(req: Request, name: str, allowed: frozenset[str]) -> set[str]:
    values = {v for v in (req.arg(name) or "").split(",") if v}
    unknown = sorted(values - allowed)
    if unknown:
        raise _Invalid(name, unknown[0], f"The `{name}` query parameter value [{unknown[0]}] is not one of "
                                         f"[{', '.join(sorted(allowed))}]")
    return values


def _page_size(req: Request, low: int, high: int, default: int) -> int:
    text = req.arg("max_results")
    if text is None:
        return default
    if not text.strip().lstrip("-").isdigit() or not low <= int(text) <= high:
        raise _Invalid("max_results", text, f"The `max_results` query parameter value [{text}] is not between {low} and {high}")
    return int(text)


def _offset(req: Request, token_param: str) -> int:
    token = req.arg(token_param)
    if token is None:
        return 0
    try:
        text = base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode()).decode()
        offset = int(text.removeprefix("o:")) if text.startswith("o:") else -1
    except (ValueError, binascii.Error, UnicodeDecodeError):
        offset = -1
    if offset < 0:
        raise _Invalid(token_param, token, f"The `{token_param}` query parameter value [{token}] is not valid")
    return offset


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


class _Query:
    """What every X route reads from a request: allowed parameters, field selection, page size and position."""

    def __init__(self, req: Request, low: int, high: int, default: int, token_param: str, allowed: frozenset[str]):
        self.req = req
        for name in sorted(req.query):
            if name not in allowed:
                raise _Invalid(name, req.arg(name) or "", f"The query parameter [{name}] is not one of [{','.join(sorted(allowed))}]")
        self.tweet_fields = _field_list(req, "tweet.fields", TWEET_FIELDS)
        self.user_fields = _field_list(req, "user.fields", USER_FIELDS)
        self.expansions = _field_list(req, "expansions", EXPANSIONS)
        self.size = _page_size(req, low, high, default)
        offset = _offset(req, token_param)
        # take the overlap fault only where it can bite, so a times=1 rule is not spent on a first page;
        # the next token continues from where the served page ends (a cursor, not the client's arithmetic)
        self.offset = page_bounds(req.fault("overlap") if offset > 0 else None, offset)

    def tweet(self, full: dict) -> dict:
        wanted = DEFAULT_TWEET_FIELDS | self.tweet_fields | ({"author_id"} if "author_id" in self.expansions else set())
        return {k: v for k, v in full.items() if k in wanted}

    def user(self, user_id: str) -> dict:
        name = X_ACCOUNT_USERNAME if user_id == X_ACCOUNT_ID else self.req.world.x_usernames[user_id]
        full = {"id": user_id, "name": name, "username": name, "protected": False}
        return {k: v for k, v in full.items() if k in DEFAULT_USER_FIELDS | self.user_fields}

    def page(self, items: list[dict], tweets: bool) -> Response:
        page = items[self.offset: self.offset + self.size]
        body: dict = {"meta": {"result_count": len(page)}}
        if page:  # an empty page has no data key
            body["data"] = [self.tweet(t) if tweets else self.user(t["id"]) for t in page]
            body["meta"].update({"newest_id": page[0]["id"], "oldest_id": page[-1]["id"]})
            if tweets and "author_id" in self.expansions:
                authors = dict.fromkeys(t["author_id"] for t in page)
                body["includes"] = {"users": [self.user(a) for a in authors]}
        if self.offset + self.size < len(items):
            body["meta"]["next_token"] = _token(self.offset + self.size)
        return Response(200, body, records_key="data")


def _authorised(req: Request) -> bool:
    return req.headers.get("authorization") in (f"Bearer {req.credentials.x_bearer}", f"Bearer {req.credentials.x_user_token}")


def _user_context(req: Request) -> bool:
    return req.headers.get("authorization") == f"Bearer {req.credentials.x_user_token}"


# requests per 15-minute window for an app-only token, per endpoint (X's published limits)
RATE_LIMITS = {"x.liking_users": 75, "x.retweeted_by": 75, "x.mentions": 450, "x.search": 450, "x.tweets": 10_000}
RATE_WINDOW_SECONDS = 900.0
# A test suite or a benchmark runs many refreshes a minute against one sandbox, where real runs are a
# day apart: they shorten the window (the limits per window stay X's) so pacing costs seconds.
RATE_WINDOW_VARIABLE = "ENGAGEMENT_SANDBOX_RATE_WINDOW_SECONDS"


def _window_seconds() -> float:
    return float(os.environ.get(RATE_WINDOW_VARIABLE) or RATE_WINDOW_SECONDS)


@dataclass
class RateWindows:
    """X's fixed rate-limit windows, per endpoint: the first call opens a window of `seconds`."""

    seconds: float = field(default_factory=_window_seconds)
    limits: dict[str, int] = field(default_factory=lambda: dict(RATE_LIMITS))
    calls: dict[str, list[int]] = field(default_factory=dict)  # endpoint -> calls answered in each window so far
    refused: dict[str, int] = field(default_factory=dict)  # endpoint -> 429s for a spent window
    _opened: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def expire(self) -> None:
        """Close every open window (the counts so far stay in `calls`)."""
        with self._lock:
            self._opened.clear()

    def take(self, endpoint: str) -> tuple[bool, dict[str, str]]:
        """(allowed, X's rate headers) for one call now."""
        limit = self.limits.get(endpoint)
        if limit is None:
            return True, {}
        with self._lock:
            now = time.time()
            opened = self._opened.get(endpoint)
            if opened is None or now >= opened + self.seconds:
                opened = self._opened[endpoint] = now
                self.calls.setdefault(endpoint, []).append(0)
            counts = self.calls[endpoint]
            allowed = counts[-1] < limit
            if allowed:
                counts[-1] += 1
            else:
                self.refused[endpoint] = self.refused.get(endpoint, 0) + 1
            headers = {"x-rate-limit-limit": str(limit), "x-rate-limit-remaining": str(max(0, limit - counts[-1])),
                       "x-rate-limit-reset": str(math.ceil(opened + self.seconds))}
        return allowed, headers


def rate_windows(req: Request) -> RateWindows:
    server = req.server
    if getattr(server, "rate_windows", None) is None:
        with server._lock:
            if getattr(server, "rate_windows", None) is None:
                server.rate_windows = RateWindows()
    return server.rate_windows


def _guarded(low: int, high: int, default: int, token_param: str, allowed: frozenset[str]):
    """Route decorator: 401 before anything else, then the rate limit, 400 for bad parameters, else the handler."""

    def wrap(handler):
        def run(req: Request) -> Response:
            if not _authorised(req):
                return Response(401, {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"})
            within, rate_headers = rate_windows(req).take(req.endpoint)
            if not within:
                return Response(429, _error(429, "Too Many Requests"), headers=rate_headers)
            try:
                response = handler(req, _Query(req, low, high, default, token_param, allowed))
            except _Invalid as exc:
                response = _invalid_response(exc)
            response.headers.update(rate_headers)
            return response

        run.__name__ = handler.__name__
        return run

    return wrap


# --- the world as X objects ------------------------------------------------------------------
def public_metrics(post: Post, now: datetime) -> dict:
    """Lifetime counters as of `now`; impressions grow with interactions plus a deterministic base reach."""
    n = {k: len(post.events_of(k, now)) for k in ("like", "repost", "reply", "quote")}
    return {"retweet_count": n["repost"], "reply_count": n["reply"], "like_count": n["like"], "quote_count": n["quote"],
            "bookmark_count": n["like"] // 5, "impression_count": post.reach(now)}


def _mention_entity(text: str) -> dict:
    start = text.find(f"@{X_ACCOUNT_USERNAME}")
    return {"start": start, "end": start + len(X_ACCOUNT_USERNAME) + 1, "username": X_ACCOUNT_USERNAME, "id": X_ACCOUNT_ID}


def _post_json(post: Post, now: datetime) -> dict:
    tweet = {"id": post.id, "text": post.text, "created_at": _iso(post.created_at), "author_id": X_ACCOUNT_ID,
             "conversation_id": post.id, "edit_history_tweet_ids": [post.id], "public_metrics": public_metrics(post, now),
             "lang": "en", "reply_settings": "everyone"}
    if post.link:
        short = post.text.split()[-1]
        tweet["entities"] = {"urls": [{"start": len(post.text) - len(short), "end": len(post.text), "url": short,
                                       "expanded_url": post.link, "display_url": post.link.split("//")[1][:25] + "…"}]}
    return tweet


def _reply_json(post: Post, event) -> dict:
    text = f"@{X_ACCOUNT_USERNAME} {event.text}"
    return {"id": event.event_id, "text": text, "created_at": _iso(event.ts), "author_id": event.user_id,
            "conversation_id": post.id, "in_reply_to_user_id": X_ACCOUNT_ID, "edit_history_tweet_ids": [event.event_id],
            "referenced_tweets": [{"type": "replied_to", "id": post.id}], "lang": "en",
            "entities": {"mentions": [_mention_entity(text)]},
            "public_metrics": {"retweet_count": 0, "reply_count": 0, "like_count": 0, "quote_count": 0,
                               "bookmark_count": 0, "impression_count": 3}}


def _mention_json(m: dict) -> dict:
    text, link = m["text"], m["link"]
    start = text.find(link)
    short = "https://t.co/" + base64.b32encode(m["id"][-6:].encode()).decode().lower()[:10]
    return {"id": m["id"], "text": text.replace(link, short), "created_at": _iso(m["created_at"]), "author_id": m["author_id"],
            "conversation_id": m["id"], "edit_history_tweet_ids": [m["id"]], "lang": "en",
            "entities": {"mentions": [_mention_entity(text)],
                         "urls": [{"start": start, "end": start + len(short), "url": short, "expanded_url": link,
                                   "display_url": link.split("//")[1][:25] + "…"}]},
            "public_metrics": {"retweet_count": 0, "reply_count": 0, "like_count": 0, "quote_count": 0,
                               "bookmark_count": 0, "impression_count": 11}}


def _newest_first(items: list[dict]) -> list[dict]:
    return sorted(items, key=lambda t: (t["created_at"], int(t["id"])), reverse=True)


def _in_range(created_at: str, start: datetime | None, end: datetime | None, end_inclusive: bool) -> bool:
    if start is not None and created_at < _iso(start):
        return False
    if end is not None and (created_at > _iso(end) if end_inclusive else created_at >= _iso(end)):
        return False
    return True


def _replies(req: Request) -> list[dict]:
    return [_reply_json(post, e) for post in req.world.x_posts if post.created_at <= req.now
            for e in post.events_of("reply", req.now)]


# --- routes --------------------------------------------------------------------------------------
@route("GET", r"/2/users/(?P<id>\d+)/tweets", "x.tweets")
@_guarded(5, 100, 10, "pagination_token", TIMELINE_PARAMS)
def tweets(req: Request, q: _Query) -> Response:
    start, end = _arg_ts(req, "start_time"), _arg_ts(req, "end_time")
    if req.match["id"] != X_ACCOUNT_ID:
        return _not_found("user", req.match["id"])
    items = [_post_json(p, req.now) for p in req.world.x_posts if p.created_at <= req.now]
    return q.page(_newest_first([t for t in items if _in_range(t["created_at"], start, end, True)]), tweets=True)


@route("GET", r"/2/users/(?P<id>\d+)/mentions", "x.mentions")
@_guarded(5, 100, 10, "pagination_token", TIMELINE_PARAMS)
def mentions(req: Request, q: _Query) -> Response:
    start, end = _arg_ts(req, "start_time"), _arg_ts(req, "end_time")
    if req.match["id"] != X_ACCOUNT_ID:
        return _not_found("user", req.match["id"])
    items = _replies(req) + [_mention_json(m) for m in req.world.x_mentions if m["created_at"] <= req.now]
    return q.page(_newest_first([t for t in items if _in_range(t["created_at"], start, end, True)]), tweets=True)


@route("GET", r"/2/tweets/search/recent", "x.search")
@_guarded(10, 100, 10, "next_token", SEARCH_PARAMS)
def search(req: Request, q: _Query) -> Response:
    query = (req.arg("query") or "").strip()
    if not query.startswith("conversation_id:") or not query.removeprefix("conversation_id:").isdigit():
        return _invalid_response(_Invalid("query", query, "the sandbox's recent search understands only `conversation_id:<id>`"))
    conversation = query.removeprefix("conversation_id:")
    start, end = _arg_ts(req, "start_time"), _arg_ts(req, "end_time")
    items = [t for t in _replies(req) if t["conversation_id"] == conversation]
    items += [_post_json(p, req.now) for p in req.world.x_posts if p.id == conversation and p.created_at <= req.now]
    return q.page(_newest_first([t for t in items if _in_range(t["created_at"], start, end, False)]), tweets=True)


def _post(req: Request) -> Post | None:
    return next((p for p in req.world.x_posts if p.id == req.match["id"] and p.created_at <= req.now), None)


def _accounts(req: Request, q: _Query, kind: str, cap: int | None) -> Response:
    post = _post(req)
    if post is None:
        return _not_found("tweet", req.match["id"])
    events = sorted(post.events_of(kind, req.now), key=lambda e: (e.ts, e.user_id), reverse=True)[:cap]
    return q.page([{"id": e.user_id} for e in events], tweets=False)


@route("GET", r"/2/tweets/(?P<id>\d+)/liking_users", "x.liking_users")
@_guarded(1, 100, 100, "pagination_token", USER_LIST_PARAMS)
def liking_users(req: Request, q: _Query) -> Response:
    if not _user_context(req):  # X's spec lists only user-context auth here
        return Response(403, {
            "title": "Unsupported Authentication", "type": f"{PROBLEMS}/unsupported-authentication", "status": 403,
            "detail": "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  Supported "
                      "authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context]."})
    return _accounts(req, q, "like", LIKERS_CAP)


@route("GET", r"/2/tweets/(?P<id>\d+)/retweeted_by", "x.retweeted_by")
@_guarded(1, 100, 100, "pagination_token", USER_LIST_PARAMS)
def retweeted_by(req: Request, q: _Query) -> Response:
    return _accounts(req, q, "repost", None)
