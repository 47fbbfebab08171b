"""Sandbox routes for the Mailchimp Marketing API 3.0 (`/3.0/...`), over the world's email sends.

Wire behaviour of the real API: HTTP Basic auth with any username and the API key as the
password; `count` (default 10, at most 1000) / `offset` paging with `total_items`; RFC 7807
"problem" JSON for errors; `_links` noise on every object (dropped by `exclude_fields`); timestamps
as ISO 8601 with `+00:00` and whole seconds. Only sends whose send time has passed on the sandbox
clock exist, and only activity that has happened by then.

Report figures are computed from the activity: a unique opener has at least one open, bounces
come from bounce actions, rates divide by delivered (emails sent minus bounces).

Machine opens (Apple Mail Privacy Protection's proxy fetching every delivered email) count in the
report's `opens` and in `sent-to` open counts, as Mailchimp counts them; the report's
`proxy_excluded_*` figures leave them out, and `email-activity?filter_bots=true` drops them (the
activity items themselves carry nothing that tells a proxy open from a person's).

A/B tests as the real API shows them: an A/B split campaign (`absplit`) has
`ab_split_opts`, its report (`type: ab_split`) per-group figures in `ab_split{a, b}`, and its
sent-to items each recipient's `absplit_group` (a, b or winner). A variate campaign has
`variate_settings` with each combination's recipient count, and nothing anywhere says which
combination a recipient got: its sent-to carries no group, its report no `ab_split`, and
`/reports/{id}/sub-reports` lists only child campaigns (the winning campaign sent to the rest after
the test), whose reports carry no combination either. Combinations are told apart only where their
links differ: each content of `/campaigns/{id}/content` `variate_contents` has its own links.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from connectors.sandbox.faults import page_bounds
from connectors.sandbox.routing import Limits, Rate, Request, Response, route
from connectors.sandbox.world import LANDING, EmailActivity, EmailSend, MailList, World, subscriber_hash

API = "https://us21.api.mailchimp.com/3.0"
ERRORS_DOC = "https://mailchimp.com/developer/marketing/docs/errors/"
MAX_COUNT = 1000
_TITLES = {
    400: "Invalid Resource", 401: "API Key Invalid", 403: "Forbidden", 404: "Resource Not Found",
    405: "Method Not Allowed", 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}


# --- errors ----------------------------------------------------------------------------------
def problem(status: int, detail: str, title: str | None = None) -> dict:
    return {"type": ERRORS_DOC, "title": title or _TITLES.get(status, "Error"), "status": status,
            "detail": detail, "instance": str(uuid.uuid4())}


CREDENTIALS = {"mailchimp_key": "0123456789abcdef0123456789abcdef-us21"}  # what this fake accepts (see server.Credentials)


def exports(url: str, credentials: Any) -> dict[str, str]:
    """The connector settings that point the client at a sandbox serving at `url`."""
    return {"MAILCHIMP_API_KEY": credentials.mailchimp_key, "MAILCHIMP_API_URL": f"{url}/3.0"}


def _error_body(status: int, message: str, code: int | None) -> dict:
    if status == 429:
        return problem(429, "You have exceeded the limit of 10 simultaneous connections.", "Too Many Requests")
    return problem(status, message)


error_body = _error_body  # the server answers injected faults with it


def limits(world: World) -> Limits:
    """Mailchimp allows 10 simultaneous connections per user, and documents no rate."""
    return Limits(concurrent=10)


def throttled(rate: Rate | None, retry_in: float) -> Response:
    return Response(429, _error_body(429, "", None))  # no Retry-After, no rate headers: Mailchimp sends none


def _fail(status: int, detail: str, title: str | None = None) -> Response:
    return Response(status, problem(status, detail, title))


def _authorised(req: Request) -> bool:
    scheme, _, value = req.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    _user, sep, key = decoded.partition(":")  # any username; the key is the password
    return bool(sep) and key == req.credentials.mailchimp_key


def _unauthorised() -> Response:
    return _fail(401, "Your API key may be invalid, or you've attempted to access the wrong datacenter.", "API Key Invalid")


# --- request helpers -------------------------------------------------------------------------
class _BadParam(Exception):
    pass


def _ts_param(req: Request, name: str) -> datetime | None:
    value = req.arg(name)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _BadParam(f"The value for '{name}' must be a valid ISO 8601 date-time.") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _bool_param(req: Request, name: str) -> bool:
    value = (req.arg(name) or "false").lower()
    if value not in ("true", "false"):
        raise _BadParam(f"{name} must be true or false.")
    return value == "true"


def _int_param(req: Request, name: str, default: int) -> int:
    value = req.arg(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        raise _BadParam(f"The value for '{name}' must be an integer.") from None
    if number < 0:
        raise _BadParam(f"The value for '{name}' must be zero or positive.")
    return number


def _iso(ts: datetime | None) -> str:
    return ts.astimezone(timezone.utc).isoformat(timespec="seconds") if ts else ""


def _links(href: str, *rels: str) -> list[dict]:
    return [{"rel": rel, "href": href, "method": "GET", "targetSchema": f"{API}/schemas/{rel}.json"} for rel in rels]


def _page(req: Request, items: list, records_key: str, build: Callable[[Any], dict] | None = None, **extra: Any) -> Response:
    """One page of `items` by count/offset, `overlap` drift applied; record faults apply on return.

    `build` turns an item into its JSON record; only the page's items are built."""
    count = min(_int_param(req, "count", 10), MAX_COUNT)
    offset = page_bounds(req.fault("overlap"), _int_param(req, "offset", 0))
    records = [build(i) if build else i for i in items[offset: offset + count]]
    body = {records_key: records, **extra, "total_items": len(items), "_links": _links(f"{API}{req.path[4:]}", "self")}
    _exclude_fields(body, records_key, req.arg("exclude_fields"))
    _list_aware_record_faults(req, records)
    return Response(200, body, records_key=records_key)


def _exclude_fields(body: dict, records_key: str, spec: str | None) -> None:
    for path in filter(None, (p.strip() for p in (spec or "").split(","))):
        head, _, rest = path.partition(".")
        if not rest:
            body.pop(head, None)
        elif head == records_key:
            for record in body.get(records_key, []):
                _pop_path(record, rest.split("."))


def _pop_path(node: Any, parts: list[str]) -> None:
    """Remove a dotted path; a numeric part indexes a list, a part over a list applies to every item."""
    head, rest = parts[0], parts[1:]
    if isinstance(node, list):
        if head.isdigit():
            if int(head) < len(node):
                _pop_path(node[int(head)], rest) if rest else node.pop(int(head))
        else:
            for item in node:
                _pop_path(item, parts)
    elif isinstance(node, dict):
        if not rest:
            node.pop(head, None)
        elif head in node:
            _pop_path(node[head], rest)


def _set_path(node: Any, parts: list[str], value: Any) -> None:
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) and part.isdigit() else node.setdefault(part, {})
    if isinstance(node, list) and parts[-1].isdigit():
        node[int(parts[-1])] = value
    elif isinstance(node, dict):
        node[parts[-1]] = value


def _list_aware_record_faults(req: Request, records: list[dict]) -> None:
    """`missing_field` / `wrong_type` on the first record, where a numeric part (`activity.0.action`)
    indexes a list. faults.shape_records walks only dicts (its `_nested_pop` calls `.get` on the
    `activity` list and the handler thread dies), so this module takes those two faults itself,
    with the same semantics otherwise: first record only, only when the page has records."""
    if not records or not isinstance(records[0], dict):
        return
    rule = req.fault("missing_field")
    if rule:
        _pop_path(records[0], (rule.field or "id").split("."))
    rule = req.fault("wrong_type")
    if rule:
        try:
            _set_path(records[0], (rule.field or "id").split("."), ["not", "a", "scalar"])
        except (IndexError, KeyError, TypeError, ValueError):
            pass


# --- the world as of the clock ---------------------------------------------------------------
def _sends(req: Request) -> list[EmailSend]:
    return [s for s in req.world.sends if s.send_time <= req.now]


def _send(req: Request, campaign_id: str) -> EmailSend | None:
    for s in req.world.sends:
        if s.id == campaign_id and s.send_time <= req.now:
            return s
    return None


def _list(world: World, list_id: str) -> MailList | None:
    return next((lst for lst in world.lists if lst.id == list_id), None)


@lru_cache(maxsize=64)
def _activity_by_email(world: World, send_id: str, now: datetime, filter_bots: bool = False) -> dict[str, list[EmailActivity]]:
    """Each recipient's activity; `filter_bots` drops machine (Apple proxy) opens as Mailchimp's parameter does."""
    send = next(s for s in world.sends if s.id == send_id)
    out: dict[str, list[EmailActivity]] = defaultdict(list)
    for a in send.activity + ([] if filter_bots else send.machine_opens):
        if a.ts <= now:
            out[a.email].append(a)
    for acts in out.values():
        acts.sort(key=lambda a: a.ts)
    return dict(out)


@lru_cache(maxsize=64)
def _activity_items(world: World, send_id: str, now: datetime, since: datetime | None,
                    filter_bots: bool = False) -> tuple[tuple[str, list[EmailActivity]], ...]:
    """Every recipient with its activity; with `since`, only recipients with activity at/after it, and only that."""
    send = next(s for s in world.sends if s.id == send_id)
    by_email = _activity_by_email(world, send_id, now, filter_bots)
    items = []
    for email in send.recipients:
        acts = by_email.get(email, [])
        if since is not None:
            acts = [a for a in acts if a.ts >= since]
            if not acts:
                continue
        items.append((email, acts))
    return tuple(items)


@lru_cache(maxsize=64)
def _figures(world: World, send_id: str, now: datetime) -> dict[str, Any]:
    send = next(s for s in world.sends if s.id == send_id)
    human = [a for a in send.activity if a.ts <= now]
    figures = _tally(send.recipients, human + [a for a in send.machine_opens if a.ts <= now])
    without_proxy = _tally(send.recipients, human)
    figures.update({f"proxy_excluded_{k}": without_proxy[k] for k in ("opens_total", "unique_opens", "open_rate")})
    return figures


@lru_cache(maxsize=16)
def _winner_figures(world: World, send_id: str, now: datetime) -> dict[str, Any]:
    """The winning campaign of a variate send: its remainder's share of the activity."""
    send = next(s for s in world.sends if s.id == send_id)
    remainder = set(send.variate_design.remainder)
    return _tally(send.variate_design.remainder, [a for a in send.activity if a.ts <= now and a.email in remainder])


def _tally(recipients: list[str], acts: list[EmailActivity]) -> dict[str, Any]:
    bounced = {a.email: a.bounce_type for a in acts if a.action == "bounce"}
    opens = [a for a in acts if a.action == "open"]
    clicks = [a for a in acts if a.action == "click"]
    hard = sum(1 for t in bounced.values() if t == "hard")
    soft = sum(1 for t in bounced.values() if t != "hard")
    delivered = len(recipients) - hard - soft
    unique_opens = len({a.email for a in opens})
    subscriber_clicks = len({a.email for a in clicks})
    return {
        "emails_sent": len(recipients), "hard_bounces": hard, "soft_bounces": soft, "bounced": bounced,
        "opens_total": len(opens), "unique_opens": unique_opens,
        "open_rate": unique_opens / delivered if delivered else 0,
        "clicks_total": len(clicks), "unique_clicks": len({(a.email, a.url) for a in clicks}),
        "unique_subscriber_clicks": subscriber_clicks,
        "click_rate": subscriber_clicks / delivered if delivered else 0,
        "last_open": max((a.ts for a in opens), default=None), "last_click": max((a.ts for a in clicks), default=None),
    }


def _in_window(req: Request, sends: list[EmailSend]) -> list[EmailSend]:
    since, before = _ts_param(req, "since_send_time"), _ts_param(req, "before_send_time")
    status = req.arg("status")
    if status and "sent" not in status.split(","):
        return []
    return [s for s in sends if (since is None or s.send_time >= since) and (before is None or s.send_time < before)]


def _sorted(req: Request, sends: list[EmailSend]) -> list[EmailSend]:
    field = req.arg("sort_field", "create_time")
    key = (lambda s: (s.send_time, s.id)) if field == "send_time" else (lambda s: (s.create_time, s.id))
    return sorted(sends, key=key, reverse=(req.arg("sort_dir", "ASC").upper() == "DESC"))


def _campaign_type(send: EmailSend) -> str:
    return "absplit" if send.absplit else "variate" if send.variate else "regular"


def _variate_settings(send: EmailSend) -> dict:
    """Each combination's recipient count (they sum to the test's size); never who got which."""
    design = send.variate_design
    counts = Counter(design.assignment.values())
    return {
        "winning_combination_id": design.combinations[design.winning_combination].id,
        "winning_campaign_id": design.winning_campaign_id,
        "winner_criteria": design.winner_criteria, "wait_time": design.wait_minutes, "test_size": design.test_size,
        "subject_lines": list(design.subject_lines), "send_times": [], "from_names": ["Shop"],
        "reply_to_addresses": ["news@shop.example"], "contents": list(design.contents),
        "combinations": [
            {"id": c.id, "subject_line": c.subject_line, "send_time": 0, "from_name": 0, "reply_to": 0,
             "content_description": c.content, "recipients": counts[k]}
            for k, c in enumerate(design.combinations)
        ],
    }


def _ab_split_opts(send: EmailSend) -> dict:
    ab = send.absplit
    return {
        "split_test": "subject", "pick_winner": ab.plan.pick_winner, "wait_units": "hours", "wait_time": ab.plan.wait_hours,
        "split_size": ab.plan.split_size, "from_name_a": "Shop", "from_name_b": "Shop",
        "reply_email_a": "news@shop.example", "reply_email_b": "news@shop.example",
        "subject_a": ab.plan.subjects[0], "subject_b": ab.plan.subjects[1],
        "send_time_a": _iso(send.send_time), "send_time_b": _iso(send.send_time), "send_time_winner": _iso(ab.winner_send_time),
    }


@lru_cache(maxsize=16)
def _ab_split(world: World, send_id: str, now: datetime) -> dict:
    """Per test group, the real group fields only; the winner group is in the campaign's totals, not here."""
    send = next(s for s in world.sends if s.id == send_id)
    groups = {}
    for group in ("a", "b"):
        emails = {e for e, g in send.absplit.groups.items() if g == group}
        acts = [a for a in send.activity if a.email in emails and a.ts <= now]
        opens = [a for a in acts if a.action == "open"]
        groups[group] = {
            "bounces": len({a.email for a in acts if a.action == "bounce"}), "abuse_reports": 0,
            "unsubs": len(emails & send.absplit.unsubscribers),
            "recipient_clicks": len({a.email for a in acts if a.action == "click"}), "forwards": 0, "forwards_opens": 0,
            "opens": len(opens), "last_open": _iso(max((a.ts for a in opens), default=None)),
            "unique_opens": len({a.email for a in opens}),
        }
    return groups


def _campaign(req: Request, send: EmailSend) -> dict:
    lst = _list(req.world, send.list_id)
    f = _figures(req.world, send.id, req.now)
    body = {
        "id": send.id, "web_id": send.web_id, "parent_campaign_id": "", "type": _campaign_type(send),
        "create_time": _iso(send.create_time), "archive_url": f"https://mailchi.mp/example/{send.id}",
        "long_archive_url": f"https://us21.campaign-archive.com/?u=0&id={send.id}", "status": "sent",
        "emails_sent": f["emails_sent"], "send_time": _iso(send.send_time), "content_type": "template",
        "needs_block_refresh": False, "resendable": False,
        "recipients": {"list_id": send.list_id, "list_is_active": True, "list_name": lst.name if lst else "",
                       "segment_text": "", "recipient_count": f["emails_sent"]},
        "settings": {"subject_line": send.subject, "preview_text": "", "title": send.title, "from_name": "Shop",
                     "reply_to": "news@shop.example", "use_conversation": False, "to_name": "*|FNAME|*",
                     "folder_id": "", "authenticate": True, "auto_footer": False, "inline_css": False,
                     "auto_tweet": False, "fb_comments": True, "timewarp": False, "template_id": 10001,
                     "drag_and_drop": True},
        "tracking": {"opens": True, "html_clicks": True, "text_clicks": False, "goal_tracking": False,
                     "ecomm360": False, "google_analytics": send.tracking, "clicktale": ""},
        "report_summary": {"opens": f["opens_total"], "unique_opens": f["unique_opens"], "open_rate": f["open_rate"],
                           "clicks": f["clicks_total"], "subscriber_clicks": f["unique_subscriber_clicks"],
                           "click_rate": f["click_rate"],
                           "ecommerce": {"total_orders": 0, "total_spent": 0, "total_revenue": 0}},
        "delivery_status": {"enabled": False},
        "_links": _links(f"{API}/campaigns/{send.id}", "self", "parent", "abuse-reports", "feedback", "send-checklist"),
    }
    if send.variate_design:
        body["variate_settings"] = _variate_settings(send)
    if send.absplit:
        body["ab_split_opts"] = _ab_split_opts(send)
    return body


_REPORT_TYPES = {"absplit": "ab_split", "variate": "variate", "regular": "regular"}


def _report(req: Request, send: EmailSend, winner_of_test: bool = False) -> dict:
    """A campaign's report; `winner_of_test` gives the report of a variate's winning campaign instead."""
    lst = _list(req.world, send.list_id)
    if winner_of_test:
        f = _winner_figures(req.world, send.id, req.now)
        f = {**f, **{f"proxy_excluded_{k}": f[k] for k in ("opens_total", "unique_opens", "open_rate")}}  # no proxy opens
        campaign_id, title, report_type = send.variate_design.winning_campaign_id, f"{send.title} (winner)", "regular"
        send_time, unsubscribed = _winner_send_time(send), 0
    else:
        f = _figures(req.world, send.id, req.now)
        campaign_id, title, report_type = send.id, send.title, _REPORT_TYPES[_campaign_type(send)]
        send_time, unsubscribed = send.send_time, send.unsubscribed
    body = {
        "id": campaign_id, "campaign_title": title, "type": report_type,
        "list_id": send.list_id, "list_is_active": True, "list_name": lst.name if lst else "",
        "subject_line": send.subject, "preview_text": "", "emails_sent": f["emails_sent"], "abuse_reports": 0,
        "unsubscribed": unsubscribed, "send_time": _iso(send_time), "rss_last_send": "",
        "bounces": {"hard_bounces": f["hard_bounces"], "soft_bounces": f["soft_bounces"], "syntax_errors": 0},
        "forwards": {"forwards_count": 0, "forwards_opens": 0},
        "opens": {"opens_total": f["opens_total"], "proxy_excluded_opens": f["proxy_excluded_opens_total"],
                  "unique_opens": f["unique_opens"], "proxy_excluded_unique_opens": f["proxy_excluded_unique_opens"],
                  "open_rate": f["open_rate"], "proxy_excluded_open_rate": f["proxy_excluded_open_rate"],
                  "last_open": _iso(f["last_open"])},
        "clicks": {"clicks_total": f["clicks_total"], "unique_clicks": f["unique_clicks"],
                   "unique_subscriber_clicks": f["unique_subscriber_clicks"], "click_rate": f["click_rate"],
                   "last_click": _iso(f["last_click"])},
        "facebook_likes": {"recipient_likes": 0, "unique_likes": 0, "facebook_likes": 0},
        "list_stats": {"sub_rate": 0, "unsub_rate": 0, "open_rate": 0, "click_rate": 0},
        "_links": _links(f"{API}/reports/{campaign_id}", "self", "parent", "campaign", "sent-to", "email-activity"),
    }
    if send.absplit and not winner_of_test:
        body["ab_split"] = _ab_split(req.world, send.id, req.now)
    return body


def _winner_send_time(send: EmailSend) -> datetime:
    return send.send_time + timedelta(minutes=send.variate_design.wait_minutes)


def _winning_campaign_of(req: Request, campaign_id: str) -> EmailSend | None:
    """The variate send whose winning campaign (sent after the test, once it has been) has this id."""
    for s in _sends(req):
        design = s.variate_design
        if design and design.remainder and design.winning_campaign_id == campaign_id and _winner_send_time(s) <= req.now:
            return s
    return None


def _ip(email: str) -> str:
    return f"198.51.100.{zlib.crc32(email.encode()) % 254 + 1}"


def _activity_item(a: EmailActivity) -> dict:
    item: dict[str, Any] = {"action": a.action, "timestamp": _iso(a.ts)}
    if a.action == "bounce":
        item["type"] = a.bounce_type
    else:
        item["ip"] = _ip(a.email)
    if a.url:
        item["url"] = a.url
    return item


# --- routes ----------------------------------------------------------------------------------
def _guard(handler):
    def wrapped(req: Request) -> Response:
        if not _authorised(req):
            return _unauthorised()
        try:
            return handler(req)
        except _BadParam as exc:
            return _fail(400, str(exc))
    wrapped.__name__ = handler.__name__
    return wrapped


@route("GET", r"/3\.0/campaigns", "mailchimp.campaigns")
@_guard
def campaigns(req: Request) -> Response:
    sends = _sorted(req, _in_window(req, _sends(req)))
    return _page(req, [_campaign(req, s) for s in sends], "campaigns")


@route("GET", r"/3\.0/reports", "mailchimp.reports")
@_guard
def reports(req: Request) -> Response:
    sends = _sorted(req, _in_window(req, _sends(req)))
    return _page(req, [_report(req, s) for s in sends], "reports")


@route("GET", r"/3\.0/reports/(?P<campaign_id>[^/]+)", "mailchimp.report")
@_guard
def report(req: Request) -> Response:
    campaign_id = req.match["campaign_id"]
    send = _send(req, campaign_id)
    if send is not None:
        return Response(200, _one(req, _report(req, send)))
    parent = _winning_campaign_of(req, campaign_id)
    if parent is not None:
        return Response(200, _one(req, _report(req, parent, winner_of_test=True)))
    return _fail(404, "The requested resource could not be found.")


@route("GET", r"/3\.0/reports/(?P<campaign_id>[^/]+)/sub-reports", "mailchimp.sub_reports")
@_guard
def sub_reports(req: Request) -> Response:
    """Reports of a campaign's child campaigns: for a variate send, its winning campaign once sent."""
    send = _send(req, req.match["campaign_id"])
    if send is None:
        return _fail(404, "The requested resource could not be found.")
    children = [_report(req, send, winner_of_test=True)] if _winning_campaign_of(
        req, send.variate_design.winning_campaign_id if send.variate_design else "") else []
    body = {"reports": children, "campaign_id": send.id, "total_items": len(children),
            "_links": _links(f"{API}/reports/{send.id}/sub-reports", "self", "parent")}
    _exclude_fields(body, "reports", req.arg("exclude_fields"))
    return Response(200, body, records_key="reports")


@route("GET", r"/3\.0/campaigns/(?P<campaign_id>[^/]+)/content", "mailchimp.campaign_content")
@_guard
def campaign_content(req: Request) -> Response:
    """The campaign's HTML; a variate campaign's `variate_contents` in the order of `variate_settings.contents`,
    each with the links its content carries."""
    send = _send(req, req.match["campaign_id"])
    if send is None:
        return _fail(404, "The requested resource could not be found.")
    landing = f"{LANDING}/c/{send.campaign_key}" if send.campaign_key else f"{LANDING}/news"
    design = send.variate_design

    def html(label: str, utm_content: str | None) -> str:
        href = f"{landing}?utm_content={utm_content}" if utm_content else landing
        return (f"<html><body><h1>{send.subject}</h1><p>{label}</p>"
                f'<a href="{href}">Shop now</a> <a href="*|UNSUB|*">Unsubscribe</a></body></html>')

    if design:
        variants = [{"content_label": label, "plain_text": f"{label}\n{landing}", "html": html(label, u)}
                    for label, u in zip(design.contents, design.utm_contents, strict=True)]
        body = {"variate_contents": variants, "plain_text": variants[0]["plain_text"], "html": variants[0]["html"]}
    else:
        body = {"plain_text": f"{send.subject}\n{landing}", "html": html(send.subject, None)}
    body.update(archive_html=body["html"], _links=_links(f"{API}/campaigns/{send.id}/content", "self", "parent"))
    _exclude_fields(body, "variate_contents", req.arg("exclude_fields"))
    return Response(200, body, records_key="variate_contents" if design else None)


def _one(req: Request, body: dict) -> dict:
    """A single resource: `exclude_fields` applies to its own top-level fields."""
    for name in filter(None, (p.strip() for p in (req.arg("exclude_fields") or "").split(","))):
        body.pop(name, None)
    return body


@route("GET", r"/3\.0/reports/(?P<campaign_id>[^/]+)/email-activity", "mailchimp.email_activity")
@_guard
def email_activity(req: Request) -> Response:
    send = _send(req, req.match["campaign_id"])
    if send is None:
        return _fail(404, "The requested resource could not be found.")
    items = _activity_items(req.world, send.id, req.now, _ts_param(req, "since"), _bool_param(req, "filter_bots"))

    def build(item: tuple[str, list[EmailActivity]]) -> dict:
        email, acts = item
        email_id = subscriber_hash(email)
        return {
            "campaign_id": send.id, "list_id": send.list_id, "list_is_active": True,
            "email_id": email_id, "email_address": email,
            "activity": [_activity_item(a) for a in acts],
            "_links": _links(f"{API}/reports/{send.id}/email-activity/{email_id}", "self", "parent"),
        }

    return _page(req, items, "emails", build, campaign_id=send.id)


@route("GET", r"/3\.0/reports/(?P<campaign_id>[^/]+)/sent-to", "mailchimp.sent_to")
@_guard
def sent_to(req: Request) -> Response:
    send = _send(req, req.match["campaign_id"])
    if send is None:
        return _fail(404, "The requested resource could not be found.")
    f = _figures(req.world, send.id, req.now)
    by_email = _activity_by_email(req.world, send.id, req.now)

    def build(i: int) -> dict:
        email = send.recipients[i]
        email_id = subscriber_hash(email)
        opens = [a for a in by_email.get(email, []) if a.action == "open"]
        first, _, last = email.partition("@")[0].partition(".")
        return {
            "email_id": email_id, "email_address": email,
            "merge_fields": {"FNAME": first.title(), "LNAME": last.rstrip("0123456789").title()},
            "vip": False, "status": f["bounced"].get(email) or "sent", "open_count": len(opens),
            "last_open": _iso(opens[-1].ts) if opens else "",
            "absplit_group": send.absplit.groups.get(email, "") if send.absplit else "", "gmt_offset": 0,
            "campaign_id": send.id, "list_id": send.list_id, "list_is_active": True,
            "_links": _links(f"{API}/reports/{send.id}/sent-to/{email_id}", "self", "parent"),
        }

    return _page(req, range(len(send.recipients)), "sent_to", build, campaign_id=send.id)  # a range slices in O(1)


@route("GET", r"/3\.0/lists", "mailchimp.lists")
@_guard
def lists(req: Request) -> Response:
    records = []
    for n, lst in enumerate(req.world.lists):
        members = _members(req, lst)
        records.append({
            "id": lst.id, "web_id": 200000 + n, "name": lst.name,
            "contact": {"company": "Example Shop", "address1": "1 Example Way", "city": "Berlin", "country": "DE"},
            "permission_reminder": "You signed up on shop.example.", "use_archive_bar": True,
            "date_created": _iso(min((m["timestamp_opt"] for m in lst.members), default=req.now)),
            "list_rating": 3, "email_type_option": False, "visibility": "prv", "double_optin": True,
            "stats": {"member_count": sum(m["status"] == "subscribed" for m in members),
                      "unsubscribe_count": sum(m["status"] == "unsubscribed" for m in members),
                      "cleaned_count": sum(m["status"] == "cleaned" for m in members)},
            "_links": _links(f"{API}/lists/{lst.id}", "self", "parent", "members"),
        })
    return _page(req, records, "lists", constraints={"may_create": True, "max_instances": 5, "current_total_instances": len(records)})


def _members(req: Request, lst: MailList) -> list[dict]:
    return [m for m in lst.members if m["timestamp_opt"] <= req.now]


@lru_cache(maxsize=16)
def _chosen_members(world: World, list_id: str, now: datetime, statuses: frozenset[str],
                    since: datetime | None, before: datetime | None) -> tuple[dict, ...]:
    """The members a query selects, filtered once per query rather than once per page."""
    lst = _list(world, list_id)
    return tuple(m for m in lst.members if m["timestamp_opt"] <= now
                 and (not statuses or m["status"] in statuses)
                 and (since is None or m["last_changed"] >= since) and (before is None or m["last_changed"] < before))


@route("GET", r"/3\.0/lists/(?P<list_id>[^/]+)/members", "mailchimp.members")
@_guard
def members(req: Request) -> Response:
    lst = _list(req.world, req.match["list_id"])
    if lst is None:
        return _fail(404, "The requested resource could not be found.")
    statuses = frozenset(filter(None, (req.arg("status") or "").split(",")))
    since, before = _ts_param(req, "since_last_changed"), _ts_param(req, "before_last_changed")
    chosen = _chosen_members(req.world, lst.id, req.now, statuses, since, before)

    def build(m: dict) -> dict:
        h = subscriber_hash(m["email"])
        first, _, last = m["email"].partition("@")[0].partition(".")
        return {
            "id": h, "email_address": m["email"], "unique_email_id": m["unique_email_id"],
            "contact_id": hashlib.md5(f"contact-{m['pid']}".encode()).hexdigest(),
            "full_name": f"{first.title()} {last.rstrip('0123456789').title()}", "web_id": 300000 + m["pid"],
            "email_type": "html", "status": m["status"], "consents_to_one_to_one_messaging": True,
            "merge_fields": {"FNAME": first.title(), "LNAME": last.rstrip("0123456789").title()},
            "stats": {"avg_open_rate": 0, "avg_click_rate": 0}, "ip_signup": "", "timestamp_signup": "",
            "ip_opt": _ip(m["email"]), "timestamp_opt": _iso(m["timestamp_opt"]), "member_rating": 2,
            "last_changed": _iso(m["last_changed"]), "language": "", "vip": False, "email_client": "",
            "location": {"latitude": 0, "longitude": 0, "gmtoff": 0, "dstoff": 0, "country_code": "", "timezone": ""},
            "source": "Import", "tags_count": 0, "tags": [], "list_id": lst.id,
            "_links": _links(f"{API}/lists/{lst.id}/members/{h}", "self", "parent"),
        }

    return _page(req, chosen, "members", build, list_id=lst.id)
