"""Sandbox routes for LinkedIn's Community Management API (versioned `/rest`), fed by the world's LinkedIn page.

Wire behaviours imitated, as LinkedIn has them:
- every request needs `Authorization: Bearer`, a `LinkedIn-Version` (YYYYMM) that is not sunset (a
  version older than twelve months before the sandbox clock is: 426 NONEXISTENT_VERSION)
  and `X-Restli-Protocol-Version: 2.0.0`; a wrong token is 401 with serviceErrorCode 65600;
- errors `{"status", "serviceErrorCode", "code", "message"}`; throttling is 429 with
  serviceErrorCode 101 and no Retry-After or rate headers;
- URNs travel percent-encoded, in the query and in path keys (`/reactions/(entity:urn%3Ali%3A…)`);
- `start`/`count` paging with each end signal LinkedIn uses: posts and comments carry
  `paging.total` and a `next` link while more exist, reactions carry only links, notifications
  only a (short) page;
- answers as of the server's clock; share statistics omit posts without activity.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote, urlencode

from connectors.sandbox.faults import page_bounds
from connectors.sandbox.routing import Limits, Rate, Request, Response, route
from connectors.sandbox.world import LINKEDIN_ORGANIZATION_ID, Post

ORGANIZATION = f"urn:li:organization:{LINKEDIN_ORGANIZATION_ID}"
MAX_COUNT = 100
DEFAULT_COUNT = 10
R = r"/rest"

CREDENTIALS = {"linkedin_token": "sandbox-linkedin-token"}  # what this fake accepts (see server.Credentials)


def exports(url: str, credentials: Any) -> dict[str, str]:
    """The connector settings that point the client at a sandbox serving at `url`."""
    return {"LINKEDIN_ORGANIZATION_ID": LINKEDIN_ORGANIZATION_ID, "LINKEDIN_ACCESS_TOKEN": credentials.linkedin_token,
            "LINKEDIN_API_URL": f"{url}/rest"}


def limits(world: Any) -> Limits:
    """LinkedIn publishes no figures (daily quotas per application and member, shown in its developer
    portal): nothing is enforced, the server only counts."""
    return Limits()


def throttled(rate: Rate | None, retry_in: float) -> Response:
    return Response(429, error_body(429, "", None))


def error_body(status: int, message: str, code: int | None = None) -> dict:
    """The server answers injected faults with it."""
    if status == 429:
        return {"status": 429, "serviceErrorCode": 101,
                "message": "Resource level throttle limit for calls to this resource is reached."}
    return {"status": status, "serviceErrorCode": 0, "code": "INTERNAL_SERVER_ERROR" if status >= 500 else "ERROR",
            "message": message}


def _fail(status: int, code: str, message: str, service_code: int) -> Response:
    return Response(status, {"status": status, "serviceErrorCode": service_code, "code": code, "message": message})


def _denied(req: Request) -> Response | None:
    if req.headers.get("authorization") != f"Bearer {req.credentials.linkedin_token}":
        return _fail(401, "INVALID_ACCESS_TOKEN", "Invalid access token", 65600)
    version = req.headers.get("linkedin-version", "")
    if not re.fullmatch(r"\d{6}(\.\d{2})?", version):
        return _fail(400, "VERSION_MISSING", "A version must be present. Please specify a version by adding the "
                     "LinkedIn-Version header.", 0)
    oldest = req.now.year * 100 + req.now.month - 100  # twelve months back
    if int(version[:6]) < oldest:
        return _fail(426, "NONEXISTENT_VERSION", f"Requested version {version[:6]}01 is not active", 0)
    if req.headers.get("x-restli-protocol-version") != "2.0.0":
        return _fail(400, "ILLEGAL_ARGUMENT", "Rest.li 2.0 syntax in the query needs X-Restli-Protocol-Version: 2.0.0", 100)
    return None


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def _posts(req: Request) -> list[Post]:
    return sorted((p for p in req.world.li_posts if p.created_at <= req.now), key=lambda p: (p.created_at, p.id), reverse=True)


def _post(req: Request, urn: str) -> Post | None:
    return next((p for p in _posts(req) if p.id == urn), None)


def _page(req: Request, items: list[dict], *, total: bool, links: bool) -> Response:
    try:
        start, count = int(req.arg("start", "0")), int(req.arg("count", str(DEFAULT_COUNT)))
    except ValueError:
        return _fail(400, "ILLEGAL_ARGUMENT", "start and count must be integers", 100)
    if not 0 < count <= MAX_COUNT or start < 0:
        return _fail(400, "ILLEGAL_ARGUMENT", f"count must be between 1 and {MAX_COUNT}", 100)
    start = page_bounds(req.fault("overlap") if start else None, start)
    page = items[start: start + count]
    paging: dict = {"start": start, "count": count}
    if links:
        paging["links"] = []
        if start + count < len(items):
            query = {k: v[0] for k, v in req.query.items() if k != "start"}
            paging["links"].append({"rel": "next", "type": "application/json",
                                    "href": f"{req.path}?{urlencode({**query, 'start': start + count})}"})
    if total:
        paging["total"] = len(items)
    return Response(200, {"paging": paging, "elements": page}, records_key="elements")


def post_json(post: Post) -> dict:
    out: dict = {
        "id": post.id, "author": ORGANIZATION, "commentary": post.text, "visibility": "PUBLIC",
        "lifecycleState": "PUBLISHED", "createdAt": _ms(post.created_at), "publishedAt": _ms(post.created_at),
        "lastModifiedAt": _ms(post.created_at), "distribution": {"feedDistribution": "MAIN_FEED"},
        "isReshareDisabledByAuthor": False, "lifecycleStateInfo": {"isEditedByAuthor": False},
    }
    if post.link:
        out["content"] = {"article": {"source": post.link, "title": post.text.split(":")[0]}}
    return out


@route("GET", R + r"/posts", "linkedin.posts")
def posts(req: Request) -> Response:
    if denied := _denied(req):
        return denied
    if req.arg("q") != "author":
        return _fail(400, "ILLEGAL_ARGUMENT", "q=author is the finder this sandbox serves", 100)
    if req.arg("author") != ORGANIZATION:
        return _fail(403, "ACCESS_DENIED", f"Not enough permissions to access: partnerApiPostsExternal.FINDER-author "
                     f"{req.arg('author')}", 100)
    return _page(req, [post_json(p) for p in _posts(req)], total=True, links=True)


@route("GET", R + r"/socialMetadata/(?P<urn>[^/]+)", "linkedin.socialMetadata")
def social_metadata(req: Request) -> Response:
    if denied := _denied(req):
        return denied
    post = _post(req, unquote(req.match["urn"]))
    if post is None:
        return _fail(404, "NOT_FOUND", f"Entity {unquote(req.match['urn'])} not found", 0)
    summaries: dict[str, dict] = {}
    for e in post.events_of("reaction", req.now):
        summaries.setdefault(e.reaction, {"reactionType": e.reaction, "count": 0})["count"] += 1
    comments = len(post.events_of("comment", req.now))
    return Response(200, {"entity": post.id, "commentsState": "OPEN", "reactionSummaries": summaries,
                          "commentSummary": {"count": comments, "topLevelCount": comments}})


@route("GET", R + r"/organizationalEntityShareStatistics", "linkedin.shareStatistics")
def share_statistics(req: Request) -> Response:
    if denied := _denied(req):
        return denied
    if req.arg("q") != "organizationalEntity" or req.arg("organizationalEntity") != ORGANIZATION:
        return _fail(403, "ACCESS_DENIED", "Not enough permissions to access: organizationalEntityShareStatistics", 100)
    elements = []
    for kind, key in (("share", "shares"), ("ugcPost", "ugcPosts")):
        listed = req.arg(key)
        if not listed:
            continue
        if not (listed.startswith("List(") and listed.endswith(")")):
            return _fail(400, "ILLEGAL_ARGUMENT", f"{key} must be a Rest.li List(...)", 100)
        for urn in listed[5:-1].split(","):
            post = _post(req, urn)
            if post is None or not [e for e in post.events if e.ts <= req.now]:
                continue  # a post without activity is omitted
            likes = sum(1 for e in post.events_of("reaction", req.now) if e.reaction == "LIKE")
            comments, shares = len(post.events_of("comment", req.now)), len(post.events_of("share", req.now))
            impressions = post.reach(req.now)
            clicks = impressions // 40
            elements.append({"organizationalEntity": ORGANIZATION, kind: urn, "totalShareStatistics": {
                "uniqueImpressionsCount": impressions * 3 // 5, "shareCount": shares, "engagement":
                (clicks + likes + comments + shares) / impressions if impressions else 0.0, "clickCount": clicks,
                "likeCount": likes, "impressionCount": impressions, "commentCount": comments}})
    return Response(200, {"paging": {"start": 0, "count": 10, "total": len(elements)}, "elements": elements},
                    records_key="elements")


@route("GET", R + r"/reactions/\(entity:(?P<urn>[^)/]+)\)", "linkedin.reactions")
def reactions(req: Request) -> Response:
    if denied := _denied(req):
        return denied
    post = _post(req, unquote(req.match["urn"]))
    if post is None:
        return _fail(404, "NOT_FOUND", f"Entity {unquote(req.match['urn'])} not found", 0)
    events = sorted(post.events_of("reaction", req.now), key=lambda e: (e.ts, e.user_id), reverse=True)
    items = [{"id": f"urn:li:reaction:({e.user_id},{post.id})", "reactionType": e.reaction, "root": post.id,
              "created": {"actor": e.user_id, "time": _ms(e.ts)}, "lastModified": {"actor": e.user_id, "time": _ms(e.ts)}}
             for e in events]
    return _page(req, items, total=False, links=True)


@route("GET", R + r"/socialActions/(?P<urn>[^/]+)/comments", "linkedin.comments")
def comments(req: Request) -> Response:
    if denied := _denied(req):
        return denied
    post = _post(req, unquote(req.match["urn"]))
    if post is None:
        return _fail(404, "NOT_FOUND", f"Entity {unquote(req.match['urn'])} not found", 0)
    activity = f"urn:li:activity:{post.id.rsplit(':', 1)[1]}"
    items = [{"id": e.event_id, "commentUrn": f"urn:li:comment:({activity},{e.event_id})", "actor": e.user_id,
              "object": activity, "message": {"text": e.text or "", "attributes": []},
              "created": {"actor": e.user_id, "time": _ms(e.ts)}, "lastModified": {"actor": e.user_id, "time": _ms(e.ts)}}
             for e in sorted(post.events_of("comment", req.now), key=lambda e: (e.ts, e.event_id))]
    return _page(req, items, total=True, links=False)


@route("GET", R + r"/organizationalEntityNotifications", "linkedin.notifications")
def notifications(req: Request) -> Response:
    if denied := _denied(req):
        return denied
    if req.arg("q") != "criteria" or req.arg("organizationalEntity") != ORGANIZATION:
        return _fail(403, "ACCESS_DENIED", "Not enough permissions to access: organizationalEntityNotifications", 100)
    actions = req.arg("actions", "")
    if not (actions.startswith("List(") and actions.endswith(")")):
        return _fail(400, "ILLEGAL_ARGUMENT", "actions must be a Rest.li List(...)", 100)
    match = re.fullmatch(r"\(start:(\d+),end:(\d+)\)", req.arg("timeRange", "") or "")
    if not match:
        return _fail(400, "ILLEGAL_ARGUMENT", "timeRange must be (start:<ms>,end:<ms>)", 100)
    start, end = (datetime.fromtimestamp(int(v) / 1000, tz=timezone.utc) for v in match.groups())
    wanted = "SHARE_MENTION" in actions[5:-1].split(",")
    items = [{"action": "SHARE_MENTION", "notificationId": m["notification_id"], "lastModifiedAt": _ms(m["created_at"]),
              "sourcePost": m["source_post"], "organizationalEntity": ORGANIZATION,
              "generatedActivity": m["generated_activity"]}
             for m in sorted(req.world.li_mentions, key=lambda m: m["created_at"], reverse=True)
             if wanted and start <= m["created_at"] < end and m["created_at"] <= req.now]
    return _page(req, items, total=False, links=False)
