"""Sandbox routes for X API v2: timelines, mentions, recent search, liking users, reposters."""

from __future__ import annotations

import base64
from datetime import datetime

from connectors.sandbox.faults import ERROR_BODIES, page_bounds
from connectors.sandbox.server import Request, Response, route
from connectors.sandbox.world import X_ACCOUNT_ID, X_ACCOUNT_USERNAME, Post

LIKERS_CAP = 100


def _error(status: int, message: str, code: int | None = None) -> dict:
    titles = {401: "Unauthorized", 429: "Too Many Requests", 400: "Invalid Request", 404: "Not Found Error"}
    title = titles.get(status, "Service Unavailable" if status >= 500 else "Error")
    return {"title": title, "detail": title if status in (401, 429) else message, "type": "about:blank", "status": status}


ERROR_BODIES["x"] = _error


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _arg_ts(req: Request, name: str) -> datetime | None:
    value = req.arg(name)
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _check(req: Request, low: int, high: int, token_param: str) -> tuple[Response | None, int, int]:
    if req.headers.get("authorization") != f"Bearer {req.credentials.x_bearer}":
        return Response(401, _error(401, "Unauthorized")), 0, 0
    size = int(req.arg("max_results", "10"))
    if not low <= size <= high:
        return Response(400, {
            "title": "Invalid Request", "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
            "errors": [{"parameters": {"max_results": [str(size)]},
                        "message": f"The `max_results` query parameter value [{size}] is not between {low} and {high}"}]}), 0, 0
    token = req.arg(token_param)
    offset = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
    return None, page_bounds(req.fault("overlap"), offset), size


def _paged(req: Request, items: list[dict], offset: int, size: int, users: list[dict] | None = None) -> Response:
    page = items[offset: offset + size]
    body: dict = {"meta": {"result_count": len(page)}}
    if page:  # an empty page has no data key
        body["data"] = page
        body["meta"].update({"newest_id": page[0]["id"], "oldest_id": page[-1]["id"]})
        if users is not None:
            wanted = {t.get("author_id") for t in page}
            body["includes"] = {"users": [u for u in users if u["id"] in wanted]}
    if offset + size < len(items):
        body["meta"]["next_token"] = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
    return Response(200, body, records_key="data")


def _metrics(post: Post, now: datetime) -> dict:
    n = {k: len(post.events_of(k, now)) for k in ("like", "repost", "reply", "quote")}
    return {"retweet_count": n["repost"], "reply_count": n["reply"], "like_count": n["like"], "quote_count": n["quote"],
            "bookmark_count": n["like"] // 5, "impression_count": (sum(n.values()) + 1) * post.impressions_per_interaction}


def _post_json(post: Post, now: datetime) -> dict:
    tweet = {"id": post.id, "text": post.text, "created_at": _iso(post.created_at), "author_id": X_ACCOUNT_ID,
             "conversation_id": post.id, "edit_history_tweet_ids": [post.id], "public_metrics": _metrics(post, now)}
    if post.link:
        short = post.text.split()[-1]
        tweet["entities"] = {"urls": [{"start": len(post.text) - len(short), "end": len(post.text), "url": short,
                                       "expanded_url": post.link, "display_url": post.link.split("//")[1][:25] + "…"}]}
    return tweet


def _replies(req: Request) -> list[dict]:
    out = []
    for post in req.world.x_posts:
        for e in post.events_of("reply", req.now):
            out.append({"id": e.event_id, "text": f"@{X_ACCOUNT_USERNAME} {e.text}", "created_at": _iso(e.ts), "author_id": e.user_id,
                        "conversation_id": post.id, "in_reply_to_user_id": X_ACCOUNT_ID,
                        "referenced_tweets": [{"type": "replied_to", "id": post.id}]})
    return out


def _users(req: Request, ids) -> list[dict]:
    names = req.world.x_usernames
    return [{"id": i, "name": names[i], "username": names[i]} for i in dict.fromkeys(ids)]


@route("GET", r"/2/users/(?P<id>\d+)/tweets", "x.tweets")
def tweets(req: Request) -> Response:
    denied, offset, size = _check(req, 5, 100, "pagination_token")
    if denied:
        return denied
    start, end = _arg_ts(req, "start_time"), _arg_ts(req, "end_time")
    posts = [p for p in req.world.x_posts if req.match["id"] == X_ACCOUNT_ID and p.created_at <= req.now
             and (start is None or p.created_at >= start) and (end is None or p.created_at < end)]
    items = [_post_json(p, req.now) for p in sorted(posts, key=lambda p: p.created_at, reverse=True)]
    return _paged(req, items, offset, size)


@route("GET", r"/2/users/(?P<id>\d+)/mentions", "x.mentions")
def mentions(req: Request) -> Response:
    denied, offset, size = _check(req, 5, 100, "pagination_token")
    if denied:
        return denied
    start, end = _arg_ts(req, "start_time"), _arg_ts(req, "end_time")
    items = _replies(req) + [
        {"id": m["id"], "text": m["text"], "created_at": _iso(m["created_at"]), "author_id": m["author_id"],
         "conversation_id": m["id"], "entities": {"urls": [{"url": "https://t.co/x", "expanded_url": m["link"]}]}}
        for m in req.world.x_mentions if m["created_at"] <= req.now]
    items = [t for t in items if (start is None or t["created_at"] >= _iso(start)) and (end is None or t["created_at"] < _iso(end))]
    items.sort(key=lambda t: t["created_at"], reverse=True)
    return _paged(req, items, offset, size, _users(req, (t["author_id"] for t in items)))


@route("GET", r"/2/tweets/search/recent", "x.search")
def search(req: Request) -> Response:
    denied, offset, size = _check(req, 10, 100, "next_token")
    if denied:
        return denied
    query = req.arg("query", "")
    conversation = query.removeprefix("conversation_id:") if query.startswith("conversation_id:") else None
    start = _arg_ts(req, "start_time")
    items = [t for t in _replies(req) if t["conversation_id"] == conversation and (start is None or t["created_at"] >= _iso(start))]
    items.sort(key=lambda t: t["created_at"], reverse=True)
    return _paged(req, items, offset, size, _users(req, (t["author_id"] for t in items)))


def _post(req: Request) -> Post | None:
    return next((p for p in req.world.x_posts if p.id == req.match["id"] and p.created_at <= req.now), None)


def _account_list(req: Request, kind: str, cap: int | None) -> Response:
    denied, offset, size = _check(req, 1, 100, "pagination_token")
    if denied:
        return denied
    post = _post(req)
    if post is None:
        return Response(200, {"errors": [{"value": req.match["id"], "detail": f"Could not find tweet with id: [{req.match['id']}].",
                                          "title": "Not Found Error", "resource_type": "tweet", "parameter": "id",
                                          "resource_id": req.match["id"], "type": "https://api.twitter.com/2/problems/resource-not-found"}]})
    events = sorted(post.events_of(kind, req.now), key=lambda e: e.ts, reverse=True)[:cap]
    names = req.world.x_usernames
    items = [{"id": e.user_id, "name": names[e.user_id], "username": names[e.user_id]} for e in events]
    return _paged(req, items, offset, size)


@route("GET", r"/2/tweets/(?P<id>\d+)/liking_users", "x.liking_users")
def liking_users(req: Request) -> Response:
    return _account_list(req, "like", LIKERS_CAP)


@route("GET", r"/2/tweets/(?P<id>\d+)/retweeted_by", "x.retweeted_by")
def retweeted_by(req: Request) -> Response:
    return _account_list(req, "repost", None)
