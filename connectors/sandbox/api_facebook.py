"""Sandbox routes for the Meta Graph API (Pages): published posts, comments, reactions, post insights, tags.

Paths accept any `/v{N}.0` prefix. The page token is accepted as `Authorization: Bearer` or as an
`access_token` query parameter, as on the real Graph API; which query parameters each server saw
is recorded (`query_params_seen`) so tests can prove a client never put the token in a URL.

Wire behaviours imitated, as the Graph API has them:
- answers as of the server's clock: posts created later do not exist yet, counters only count
  events that have happened;
- `fields` is honoured at the top level (unknown fields fail with (#100)); `shares` is omitted
  when a post has none; a comment's `from` is omitted when Meta withholds the author;
- cursor paging: `paging.cursors.{before,after}` and an absolute `paging.next` on the host the
  client called (Host header), carrying `access_token=` like Meta's own next URLs do, absent on
  the last page;
- `since`/`until` are treated as inclusive (the conservative reading): a client that wants a
  half-open window must drop a post created exactly at `until` itself;
- throttling and errors as Graph error bodies (HTTP 400, `code`, `type`, `fbtrace_id`), usage
  headers `X-App-Usage` / `X-Business-Use-Case-Usage` as JSON strings;
- one retired insights metric fails the whole insights call with (#100).
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from connectors.sandbox.faults import page_bounds
from connectors.sandbox.routing import Limits, Rate, Request, Response, route
from connectors.sandbox.world import FACEBOOK_PAGE_ID, Post, World

V = r"/v\d+\.0"
MAX_LIMIT = 100
DEFAULT_LIMIT = 25
VALID_POST_METRICS = frozenset({"post_media_view"})
RETIRED_POST_METRICS = frozenset({
    "post_impressions", "post_impressions_unique", "post_impressions_paid", "post_impressions_fan",
    "post_impressions_organic", "post_impressions_viral", "post_impressions_nonviral", "post_engaged_users",
    "post_clicks_unique", "post_negative_feedback", "post_negative_feedback_unique", "post_video_views_10s",
})
POST_FIELDS = frozenset({"id", "created_time", "message", "permalink_url", "attachments", "shares", "reactions",
                         "comments", "from", "status_type", "updated_time", "is_published"})
COMMENT_FIELDS = frozenset({"id", "created_time", "message", "from", "parent", "like_count", "comment_count"})
REACTION_FIELDS = frozenset({"id", "name", "type", "profile_type"})
THROTTLE_SUBCODES = {80001: 2446079, 32: 2446079}

def _trace(message: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha1(message.encode()).digest()[:9]).decode()


def _error(status: int, message: str, code: int | None = None, *, subcode: int | None = None,
           kind: str = "OAuthException", transient: bool | None = None) -> dict:
    if code is None:  # faults without a Graph code: 5xx / 429 from the fault machinery
        code = 2 if status >= 500 else 4
        message = "(#2) Service temporarily unavailable" if status >= 500 else "(#4) Application request limit reached"
        transient = True
    throttle = code in (4, 17, 32, 341, 613, 80001)
    error: dict = {"message": message, "type": kind, "code": code}
    if subcode is not None or code in THROTTLE_SUBCODES:
        error["error_subcode"] = subcode if subcode is not None else THROTTLE_SUBCODES[code]
    if transient is not None or throttle:
        error["is_transient"] = True if transient is None else transient
    error["fbtrace_id"] = _trace(f"{status}{message}")
    return {"error": error}


CREDENTIALS = {"facebook_token": "sandbox-facebook-page-token"}  # what this fake accepts (see server.Credentials)


def exports(url: str, credentials: Any) -> dict[str, str]:
    """The connector settings that point the client at a sandbox serving at `url`."""
    return {
        "FACEBOOK_PAGE_ID": FACEBOOK_PAGE_ID,
        "FACEBOOK_ACCESS_TOKEN": credentials.facebook_token,
        "FACEBOOK_GRAPH_URL": f"{url}/v24.0",
    }


# Pages API calls with a Page token fall under Meta's Business Use Case limit: 4,800 calls per 24 hours
# times the Page's engaged users; Meta documents no limit on simultaneous requests
BUC_CALLS_PER_ENGAGED_USER = 4800
BUC_SECONDS = 24 * 3600.0


def limits(world: World) -> Limits:
    """The Page's engaged users are the people who reacted to or commented on its posts (at least one)."""
    engaged = len({e.user_id for post in world.fb_posts for e in post.events}) or 1
    return Limits(rates=(Rate(BUC_CALLS_PER_ENGAGED_USER * engaged, BUC_SECONDS, "facebook.*", "pages"),))


def throttled(rate: Rate | None, retry_in: float) -> Response:
    """Meta's Pages BUC throttle: HTTP 400, code 80001, and the wait in X-Business-Use-Case-Usage (minutes)."""
    usage = {FACEBOOK_PAGE_ID: [{"type": "pages", "call_count": 100, "total_cputime": 1, "total_time": 1,
                                  "estimated_time_to_regain_access": max(1, round(retry_in / 60))}]}
    message = ("(#80001) There have been too many calls to this Page account. Wait a bit and try again. For more info, "
               "please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.")
    return Response(400, _error(400, message, 80001), {"X-Business-Use-Case-Usage": json.dumps(usage)})


def error_body(status: int, message: str, code: int | None) -> dict:
    """The server answers injected faults with it."""
    return _error(status, message, code)


def _fail(message: str, code: int, status: int = 400, **kw) -> Response:
    return Response(status, _error(status, message, code, **kw))


def _ts(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _usage_headers(req: Request) -> dict[str, str]:
    calls = sum(n for name, n in req.server.requests.items() if name.startswith("facebook."))
    pct = min(100, calls // 5)
    return {
        "X-App-Usage": json.dumps({"call_count": pct, "total_cputime": pct // 2, "total_time": pct // 2}),
        "X-Business-Use-Case-Usage": json.dumps({FACEBOOK_PAGE_ID: [{
            "type": "pages", "call_count": pct, "total_cputime": pct // 2, "total_time": pct // 2,
            "estimated_time_to_regain_access": 0}]}),
    }


def _denied(req: Request) -> Response | None:
    header = req.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else req.arg("access_token")
    if not token:
        return _fail("An access token is required to request this resource.", 104)
    if token != req.credentials.facebook_token:
        return _fail("Invalid OAuth access token - Cannot parse access token", 190)
    return None


def _fields(req: Request, default: tuple[str, ...], known: frozenset[str]) -> tuple[dict[str, str], str | None]:
    """Top-level field name -> its full spec (`reactions.summary(total_count).limit(0)`), or an unknown name."""
    raw = req.arg("fields")
    if not raw:
        return {f: f for f in default}, None
    out, depth, current = {}, 0, ""
    for ch in raw + ",":
        if ch == "," and depth == 0:
            spec = current.strip()
            if spec:
                name = spec.split("{")[0].split(".")[0].split("(")[0]
                if name not in known:
                    return {}, name
                out[name] = spec
            current = ""
            continue
        depth += ch in "{("
        depth -= ch in "})"
        current += ch
    out.setdefault("id", "id")
    return out, None


def _page(req: Request, items: list[dict]) -> Response | dict:
    """Cursor paging over `items`; returns the body or an error Response."""
    try:
        limit = int(req.arg("limit", str(DEFAULT_LIMIT)))
    except ValueError:
        return _fail("(#100) Param limit must be an integer", 100)
    if limit > MAX_LIMIT or limit < 1:
        return _fail(f"(#100) The limit parameter should not exceed {MAX_LIMIT}", 100)
    after = req.arg("after")
    offset = 0
    if after:
        try:
            offset = int(base64.urlsafe_b64decode(after.encode()).decode().removeprefix("offset:"))
        except ValueError:
            return _fail("(#100) The after cursor is invalid", 100)
    offset = page_bounds(req.fault("overlap"), offset)
    page = items[offset: offset + limit]
    body: dict = {"data": page}
    if page or offset:
        body["paging"] = {"cursors": {"before": _cursor(offset), "after": _cursor(offset + len(page))}}
    if offset + limit < len(items):
        query = {k: v[0] for k, v in req.query.items() if k != "after"}
        query["after"] = _cursor(offset + limit)
        query.setdefault("access_token", req.credentials.facebook_token)  # Meta's next URLs carry the token
        host = req.headers.get("host") or f"127.0.0.1:{req.server.port}"
        body["paging"]["next"] = f"http://{host}{req.path}?{urlencode(query)}"
    return body


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _answer(req: Request, items: list[dict]) -> Response:
    body = _page(req, items)
    if isinstance(body, Response):
        return body
    return Response(200, body, _usage_headers(req), records_key="data")


def _post(req: Request, post_id: str) -> Post | None:
    for post in req.world.fb_posts:
        if post.id == post_id and post.created_at <= req.now:
            return post
    return None


def _missing(object_id: str) -> Response:
    return _fail(f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be loaded due to missing "
                 "permissions, or does not support this operation. Please read the Graph API documentation at "
                 "https://developers.facebook.com/docs/graph-api", 100, subcode=33, kind="GraphMethodException")


def _unix(req: Request, name: str) -> tuple[datetime | None, Response | None]:
    value = req.arg(name)
    if value is None or value == "":
        return None, None
    try:
        return datetime.fromtimestamp(int(value), tz=timezone.utc), None
    except ValueError:
        return None, _fail(f"(#100) The parameter {name} must be a Unix timestamp in this sandbox", 100)


def _edge_summary(spec: str, total: int, extra: dict, items: list[dict]) -> dict:
    out: dict = {"data": [] if ".limit(0)" in spec else items[:DEFAULT_LIMIT]}
    if ".summary(" in spec:
        out["summary"] = {"total_count": total, **extra}
    return out


def post_json(req: Request, post: Post, fields: dict[str, str]) -> dict:
    now = req.now
    reactions = sorted(post.events_of("reaction", now), key=lambda e: e.ts, reverse=True)
    comments = sorted(post.events_of("comment", now), key=lambda e: e.ts)
    shares = len(post.events_of("share", now))
    page_id, object_id = post.id.split("_", 1)
    out: dict = {}
    for name, spec in fields.items():
        if name == "id":
            out["id"] = post.id
        elif name == "created_time":
            out["created_time"] = _ts(post.created_at)
        elif name == "updated_time":
            out["updated_time"] = _ts(post.created_at)
        elif name == "message":
            out["message"] = post.text
        elif name == "permalink_url":
            out["permalink_url"] = f"https://www.facebook.com/{page_id}/posts/{object_id}"
        elif name == "is_published":
            out["is_published"] = True
        elif name == "status_type":
            out["status_type"] = "shared_story" if post.link else "mobile_status_update"
        elif name == "from":
            out["from"] = {"id": FACEBOOK_PAGE_ID, "name": "Example Shop"}
        elif name == "attachments" and post.link:
            out["attachments"] = {"data": [{
                "type": "share", "unshimmed_url": post.link,
                "url": "https://l.facebook.com/l.php?" + urlencode({"u": post.link, "h": _trace(post.link)}),
                "title": post.text.split("!")[0]}]}
        elif name == "shares" and shares:  # Meta omits `shares` when a post has none
            out["shares"] = {"count": shares}
        elif name == "reactions":
            items = [{"id": e.user_id, "name": req.world.fb_names.get(e.user_id), "type": e.reaction} for e in reactions]
            out["reactions"] = _edge_summary(spec, len(reactions), {"viewer_reaction": "NONE"}, items)
        elif name == "comments":
            items = [comment_json(req, post, e, {"id": "", "created_time": "", "message": ""}) for e in comments]
            out["comments"] = _edge_summary(spec, len(comments), {"order": "ranked", "can_comment": True}, items)
    return out


def comment_json(req: Request, post: Post, event, fields: dict[str, str]) -> dict:
    object_id = post.id.split("_", 1)[1]
    out: dict = {}
    for name in fields:
        if name == "id":
            out["id"] = f"{object_id}_{event.event_id}"
        elif name == "created_time":
            out["created_time"] = _ts(event.ts)
        elif name == "message":
            out["message"] = event.text or ""
        elif name == "from" and event.from_visible:  # withheld authors: no `from` at all
            out["from"] = {"id": event.user_id, "name": req.world.fb_names.get(event.user_id)}
        elif name in ("like_count", "comment_count"):
            out[name] = 0
    return out


@route("GET", V + r"/(?P<page>[^/]+)/published_posts", "facebook.published_posts")
def published_posts(req: Request) -> Response:
    if denied := _denied(req):
        return denied
    if req.match["page"] not in (FACEBOOK_PAGE_ID, "me"):
        return _missing(req.match["page"])
    fields, unknown = _fields(req, ("id", "created_time", "message"), POST_FIELDS)
    if unknown:
        return _fail(f"(#100) Tried accessing nonexisting field ({unknown}) on node type (PagePost)", 100)
    since, bad = _unix(req, "since")
    until, bad2 = _unix(req, "until")
    if bad or bad2:
        return bad or bad2
    posts = [p for p in req.world.fb_posts if p.created_at <= req.now
             and (since is None or p.created_at >= since) and (until is None or p.created_at <= until)]
    posts.sort(key=lambda p: (p.created_at, p.id), reverse=True)  # newest first, as the Graph API lists them
    return _answer(req, [post_json(req, p, fields) for p in posts])


@route("GET", V + r"/(?P<post>[^/]+)/comments", "facebook.comments")
def comments(req: Request) -> Response:
    if denied := _denied(req):
        return denied
    post = _post(req, req.match["post"])
    if post is None:
        return _missing(req.match["post"])
    fields, unknown = _fields(req, ("created_time", "from", "message", "id"), COMMENT_FIELDS)
    if unknown:
        return _fail(f"(#100) Tried accessing nonexisting field ({unknown}) on node type (Comment)", 100)
    events = sorted(post.events_of("comment", req.now), key=lambda e: (e.ts, e.event_id))
    if req.arg("order") == "reverse_chronological":
        events.reverse()
    return _answer(req, [comment_json(req, post, e, fields) for e in events])


@route("GET", V + r"/(?P<post>[^/]+)/reactions", "facebook.reactions")
def reactions(req: Request) -> Response:
    if denied := _denied(req):
        return denied
    post = _post(req, req.match["post"])
    if post is None:
        return _missing(req.match["post"])
    fields, unknown = _fields(req, ("id", "name", "type"), REACTION_FIELDS)
    if unknown:
        return _fail(f"(#100) Tried accessing nonexisting field ({unknown}) on node type (Profile)", 100)
    wanted = req.arg("type")
    events = sorted(post.events_of("reaction", req.now), key=lambda e: (e.ts, e.user_id), reverse=True)
    items = []
    for e in events:
        if wanted and e.reaction != wanted:
            continue
        full = {"id": e.user_id, "name": req.world.fb_names.get(e.user_id), "type": e.reaction, "profile_type": "user"}
        items.append({k: v for k, v in full.items() if k in fields})
    return _answer(req, items)


@route("GET", V + r"/(?P<post>[^/]+)/insights(?:/(?P<metric_path>[^/]+))?", "facebook.insights")
def insights(req: Request) -> Response:
    if denied := _denied(req):
        return denied
    post = _post(req, req.match["post"])
    if post is None:
        return _missing(req.match["post"])
    metrics = [m for m in (req.match["metric_path"] or req.arg("metric") or "").split(",") if m]
    if not metrics or any(m not in VALID_POST_METRICS for m in metrics):  # one bad metric fails the whole call
        return _fail("(#100) The value must be a valid insights metric", 100)
    data = []
    for metric in metrics:
        value = post.reach(req.now)
        data.append({"name": metric, "period": "lifetime", "values": [{"value": value}],
                     "title": "Lifetime Post Media Views", "description": "Lifetime: The number of times your post was on screen.",
                     "id": f"{post.id}/insights/{metric}/lifetime"})
    return Response(200, {"data": data}, _usage_headers(req), records_key="data")


TAGGED_FIELDS = frozenset({"id", "created_time", "updated_time", "message", "message_tags", "story", "permalink_url",
                           "from", "full_picture", "shares", "status_type", "parent_id", "privacy"})


@route("GET", V + r"/(?P<page>[^/]+)/tagged", "facebook.tagged")
def tagged(req: Request) -> Response:
    """Public posts by others in which the Page is tagged (PagePost objects), newest first. `from` is
    withheld: Meta shows a user post's author only to that author."""
    if denied := _denied(req):
        return denied
    if req.match["page"] not in (FACEBOOK_PAGE_ID, "me"):
        return _missing(req.match["page"])
    fields, unknown = _fields(req, ("id", "created_time", "message"), TAGGED_FIELDS)
    if unknown:
        return _fail(f"(#100) Tried accessing nonexisting field ({unknown}) on node type (PagePost)", 100)
    since, bad = _unix(req, "since")
    until, bad2 = _unix(req, "until")
    if bad or bad2:
        return bad or bad2
    tags = [t for t in req.world.fb_tags if t["created_at"] <= req.now
            and (since is None or t["created_at"] >= since) and (until is None or t["created_at"] <= until)]
    tags.sort(key=lambda t: (t["created_at"], t["id"]), reverse=True)
    items = []
    for t in tags:
        author, object_id = t["id"].split("_", 1)
        full = {"id": t["id"], "created_time": _ts(t["created_at"]), "updated_time": _ts(t["created_at"]),
                "message": t["message"], "permalink_url": f"https://www.facebook.com/{author}/posts/{object_id}",
                "status_type": "mobile_status_update",
                "message_tags": [{"id": FACEBOOK_PAGE_ID, "name": "Example Shop", "type": "page", "offset": 0, "length": 12}]}
        items.append({k: v for k, v in full.items() if k in fields})
    return _answer(req, items)

