"""Sandbox routes for the Mailchimp Marketing API 3.0 (campaigns, reports, activity, members)."""

from __future__ import annotations

import base64
from datetime import datetime

from connectors.sandbox.faults import ERROR_BODIES, page_bounds
from connectors.sandbox.server import Request, Response, route
from connectors.sandbox.world import EmailSend, subscriber_hash

ERRORS = "https://mailchimp.com/developer/marketing/docs/errors/"
TITLES = {401: "API Key Invalid", 404: "Resource Not Found", 429: "Too Many Requests", 400: "Invalid Resource"}


def _error(status: int, message: str, code: int | None = None) -> dict:
    return {"type": ERRORS, "title": TITLES.get(status, "Internal Server Error" if status >= 500 else "Error"),
            "status": status, "detail": message, "instance": "0f2c9a1e-sandbox"}


ERROR_BODIES["mailchimp"] = _error
LINKS = [{"rel": "self", "href": "https://us21.api.mailchimp.com/3.0/", "method": "GET"}]


def _iso(ts: datetime | None) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S+00:00") if ts else ""


def _ts_arg(req: Request, name: str) -> datetime | None:
    value = req.arg(name)
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _denied(req: Request) -> Response | None:
    header = req.headers.get("authorization", "")
    try:
        _, _, key = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
    except ValueError:
        key = ""
    if not header.startswith("Basic ") or key != req.credentials.mailchimp_key:
        return Response(401, _error(401, "Your API key may be invalid, or you've attempted to access the wrong datacenter."))
    return None


def _page(req: Request, items: list[dict], key: str, extra: dict | None = None) -> Response:
    count = int(req.arg("count", "10"))
    if not 1 <= count <= 1000:
        return Response(400, _error(400, "count must be between 1 and 1000"))
    offset = page_bounds(req.fault("overlap"), int(req.arg("offset", "0")))
    page = [{**item, "_links": LINKS} for item in items[offset: offset + count]]
    return Response(200, {key: page, **(extra or {}), "total_items": len(items), "_links": LINKS}, records_key=key)


def _sent(req: Request) -> list[EmailSend]:
    since, before = _ts_arg(req, "since_send_time"), _ts_arg(req, "before_send_time")
    return [s for s in req.world.sends if s.send_time <= req.now
            and (since is None or s.send_time >= since) and (before is None or s.send_time < before)]


def _send(req: Request, campaign_id: str) -> EmailSend | None:
    return next((s for s in req.world.sends if s.id == campaign_id and s.send_time <= req.now), None)


def _stats(send: EmailSend, now: datetime) -> dict:
    acts = [a for a in send.activity if a.ts <= now]
    opens = [a for a in acts if a.action == "open"]
    clicks = [a for a in acts if a.action == "click"]
    bounces = [a for a in acts if a.action == "bounce"]
    delivered = len(send.recipients) - len(bounces)
    unique_opens, unique_clickers = len({a.email for a in opens}), len({a.email for a in clicks})
    return {
        "id": send.id, "campaign_title": send.title, "type": "variate" if send.variate else "regular", "list_id": send.list_id,
        "emails_sent": len(send.recipients), "send_time": _iso(send.send_time), "unsubscribed": send.unsubscribed,
        "bounces": {"hard_bounces": sum(a.bounce_type == "hard" for a in bounces),
                    "soft_bounces": sum(a.bounce_type == "soft" for a in bounces), "syntax_errors": 0},
        "opens": {"opens_total": len(opens), "unique_opens": unique_opens,
                  "open_rate": unique_opens / delivered if delivered else 0, "last_open": _iso(max((a.ts for a in opens), default=None))},
        "clicks": {"clicks_total": len(clicks), "unique_clicks": len({a.url for a in clicks}),
                   "unique_subscriber_clicks": unique_clickers, "click_rate": unique_clickers / delivered if delivered else 0,
                   "last_click": _iso(max((a.ts for a in clicks), default=None))},
    }


@route("GET", r"/3\.0/campaigns", "mailchimp.campaigns")
def campaigns(req: Request) -> Response:
    if denied := _denied(req):
        return denied
    items = []
    for s in _sent(req):
        stats = _stats(s, req.now)
        item = {
            "id": s.id, "web_id": s.web_id, "type": "variate" if s.variate else "regular", "status": "sent",
            "create_time": _iso(s.create_time), "send_time": _iso(s.send_time), "emails_sent": len(s.recipients),
            "recipients": {"list_id": s.list_id, "recipient_count": len(s.recipients)},
            "settings": {"subject_line": s.subject, "title": s.title, "from_name": "Example Shop"},
            "tracking": {"opens": True, "html_clicks": True, "google_analytics": s.tracking},
            "report_summary": {"opens": stats["opens"]["opens_total"], "unique_opens": stats["opens"]["unique_opens"],
                               "open_rate": stats["opens"]["open_rate"], "clicks": stats["clicks"]["clicks_total"],
                               "subscriber_clicks": stats["clicks"]["unique_subscriber_clicks"], "click_rate": stats["clicks"]["click_rate"]},
        }
        if s.variate:
            item["variate_settings"] = {"winning_combination_id": "a1", "winner_criteria": "opens", "test_size": 20,
                                        "combinations": [{"id": "a1", "subject_line": 0, "recipients": len(s.recipients) // 2},
                                                         {"id": "b2", "subject_line": 1, "recipients": len(s.recipients) - len(s.recipients) // 2}]}
        items.append(item)
    return _page(req, items, "campaigns")


@route("GET", r"/3\.0/reports", "mailchimp.reports")
def reports(req: Request) -> Response:
    if denied := _denied(req):
        return denied
    return _page(req, [_stats(s, req.now) for s in _sent(req)], "reports")


@route("GET", r"/3\.0/reports/(?P<id>[^/]+)/email-activity", "mailchimp.email_activity")
def email_activity(req: Request) -> Response:
    if denied := _denied(req):
        return denied
    send = _send(req, req.match["id"])
    if send is None:
        return Response(404, _error(404, "The requested resource could not be found."))
    since = _ts_arg(req, "since")
    by_email: dict[str, list[dict]] = {e: [] for e in send.recipients}
    for a in sorted(send.activity, key=lambda a: a.ts):
        if a.ts <= req.now and (since is None or a.ts >= since):
            item = {"action": a.action, "timestamp": _iso(a.ts), "ip": "203.0.113.7"}
            if a.url:
                item["url"] = a.url
            if a.bounce_type:
                item["type"] = a.bounce_type
            by_email[a.email].append(item)
    emails = [{"campaign_id": send.id, "list_id": send.list_id, "list_is_active": True, "email_id": subscriber_hash(e),
               "email_address": e, "activity": acts} for e, acts in by_email.items() if acts or since is None]
    return _page(req, emails, "emails", {"campaign_id": send.id})


@route("GET", r"/3\.0/reports/(?P<id>[^/]+)/sent-to", "mailchimp.sent_to")
def sent_to(req: Request) -> Response:
    if denied := _denied(req):
        return denied
    send = _send(req, req.match["id"])
    if send is None:
        return Response(404, _error(404, "The requested resource could not be found."))
    bounced = {a.email: a.bounce_type for a in send.activity if a.action == "bounce" and a.ts <= req.now}
    items = [{"email_id": subscriber_hash(e), "email_address": e, "status": bounced.get(e, "sent"), "campaign_id": send.id,
              "list_id": send.list_id} for e in send.recipients]
    return _page(req, items, "sent_to", {"campaign_id": send.id})


@route("GET", r"/3\.0/lists", "mailchimp.lists")
def lists(req: Request) -> Response:
    if denied := _denied(req):
        return denied
    return _page(req, [{"id": x.id, "name": x.name, "stats": {"member_count": len(x.members)}} for x in req.world.lists], "lists")


@route("GET", r"/3\.0/lists/(?P<id>[^/]+)/members", "mailchimp.members")
def members(req: Request) -> Response:
    if denied := _denied(req):
        return denied
    lst = next((x for x in req.world.lists if x.id == req.match["id"]), None)
    if lst is None:
        return Response(404, _error(404, "The requested resource could not be found."))
    since = _ts_arg(req, "since_last_changed")
    items = [{"id": subscriber_hash(m["email"]), "email_address": m["email"], "unique_email_id": m["unique_email_id"],
              "contact_id": None, "status": m["status"], "timestamp_opt": _iso(m["timestamp_opt"]),
              "last_changed": _iso(m["last_changed"]), "list_id": lst.id}
             for m in sorted(lst.members, key=lambda m: m["last_changed"])
             if m["timestamp_opt"] <= req.now and m["last_changed"] <= req.now and (since is None or m["last_changed"] >= since)]
    return _page(req, items, "members", {"list_id": lst.id})
