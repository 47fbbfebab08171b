"""Mailchimp Marketing API 3.0: sent campaigns, report summaries, per-recipient activity, members.

Base URL `https://<dc>.api.mailchimp.com/3.0`, the data center taken from the key's suffix.
HTTP Basic with any username and the key as password. `count` (max 1000) / `offset` paging until
`offset >= total_items`. Mailchimp sends no rate-limit headers: 429 (more than 10 simultaneous
connections) gets urllib3's exponential backoff; this client uses one connection at a time.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Iterator

import pyarrow as pa

from connectors.http import ApiClient, ConfigError, require, validate_base_url
from connectors.streams import StreamSpec, Window, parse_ts

MAX_COUNT = 1000
TS = pa.timestamp("us", tz="UTC")
S, I, F = pa.string(), pa.int64(), pa.float64()

CAMPAIGNS = StreamSpec("mailchimp", "campaigns", pa.schema([
    ("id", S), ("web_id", I), ("type", S), ("status", S), ("title", S), ("subject_line", S), ("list_id", S),
    ("create_time", TS), ("send_time", TS), ("emails_sent", I), ("tracking_utm", S),
    ("variate_combinations", S), ("variate_winner", S)]), ("id",),
    description="sent email campaigns; tracking_utm is tracking.google_analytics verbatim")
REPORTS = StreamSpec("mailchimp", "reports", pa.schema([
    ("campaign_id", S), ("list_id", S), ("send_time", TS), ("emails_sent", I), ("hard_bounces", I), ("soft_bounces", I),
    ("syntax_errors", I), ("opens_total", I), ("unique_opens", I), ("open_rate", F), ("clicks_total", I),
    ("unique_clicks", I), ("unique_subscriber_clicks", I), ("click_rate", F), ("unsubscribed", I),
    ("last_open", TS), ("last_click", TS)]), ("campaign_id",), description="Mailchimp's own report summary per campaign")
EMAIL_ACTIVITY = StreamSpec("mailchimp", "email_activity", pa.schema([
    ("activity_id", S), ("campaign_id", S), ("list_id", S), ("email_id", S), ("email_address", S), ("action", S),
    ("timestamp", TS), ("url", S), ("bounce_type", S), ("ip", S)]), ("activity_id",),
    description="one row per open, click or bounce; activity_id hashes campaign, member, action, time and url")
RECIPIENTS = StreamSpec("mailchimp", "recipients", pa.schema([
    ("campaign_id", S), ("email_id", S), ("email_address", S), ("status", S), ("list_id", S)]), ("campaign_id", "email_id"),
    description="who each campaign was sent to (reports/{id}/sent-to)")
LIST_MEMBERS = StreamSpec("mailchimp", "list_members", pa.schema([
    ("list_id", S), ("id", S), ("email_address", S), ("unique_email_id", S), ("contact_id", S), ("status", S),
    ("timestamp_opt", TS), ("last_changed", TS)]), ("list_id", "id"), cursor_column="last_changed",
    description="audience members, pulled whole once and then since the last change stored")


def data_center(api_key: str) -> str:
    dc = api_key.rsplit("-", 1)[1] if "-" in api_key else ""
    if not dc.isalnum():
        raise ConfigError("MAILCHIMP_API_KEY has no data-center suffix (expected '<key>-us21'): copy the whole key")
    return dc


def _iso(ts) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S+00:00")


@dataclass
class MailchimpClient(ApiClient):
    api_key: str = ""
    page_size: int = MAX_COUNT

    source = "mailchimp"
    STREAMS = (CAMPAIGNS, REPORTS, EMAIL_ACTIVITY, RECIPIENTS, LIST_MEMBERS)

    @classmethod
    def from_settings(cls, api_key: str, base_url: str | None = None, **kw: Any) -> MailchimpClient:
        default = f"https://{data_center(api_key)}.api.mailchimp.com/3.0"
        return cls(base_url=validate_base_url(base_url, "MAILCHIMP_API_URL", default), api_key=api_key, **kw)

    def _basic(self) -> str:
        return base64.b64encode(f"anystring:{self.api_key}".encode()).decode()

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Basic {self._basic()}"}

    def secrets(self) -> tuple[str, ...]:
        return (self.api_key, self._basic())

    def error_message(self, body: Any, response) -> str:
        if isinstance(body, dict) and (body.get("title") or body.get("detail")):
            return " - ".join(x for x in (body.get("title"), body.get("detail")) if x)
        return super().error_message(body, response)

    def _paged(self, path: str, key: str, stream: str, params: dict | None = None) -> Iterator[list[dict]]:
        offset = 0
        while True:
            body = self.request("GET", f"{self.base_url}{path}", endpoint=path.split("?")[0],
                                params={**(params or {}), "count": self.page_size, "offset": offset,
                                        "exclude_fields": f"_links,{key}._links"}) or {}
            items = body.get(key) or []
            yield items
            offset += len(items)
            if not items or offset >= int(body.get("total_items") or 0):
                return

    def _window_params(self, window: Window) -> dict:
        return {"status": "sent", "since_send_time": _iso(window.start_ts), "before_send_time": _iso(window.end_ts),
                "sort_field": "send_time", "sort_dir": "ASC"}

    def _campaigns(self, window: Window) -> Iterator[list[dict]]:
        yield from self._paged("/campaigns", "campaigns", "campaigns", self._window_params(window))

    def read(self, stream: str, window: Window) -> Iterator[list[dict]]:
        if stream == "campaigns":
            for items in self._campaigns(window):
                yield self._page(stream, [campaign_from_api(c) for c in items])
        elif stream == "reports":
            params = {"since_send_time": _iso(window.start_ts), "before_send_time": _iso(window.end_ts), "type": "regular,variate"}
            for items in self._paged("/reports", "reports", stream, params):
                yield self._page(stream, [report_from_api(r) for r in items if window.start_ts <= parse_ts(r.get("send_time")) < window.end_ts])
        elif stream in ("email_activity", "recipients"):
            ids = [require(c, "id", "mailchimp", "campaigns", str) for items in self._campaigns(window) for c in items]
            for campaign_id in ids:
                if stream == "email_activity":
                    for items in self._paged(f"/reports/{campaign_id}/email-activity", "emails", stream, {"since": _iso(window.start_ts)}):
                        yield self._page(stream, [row for e in items for row in activity_from_api(e)])
                else:
                    for items in self._paged(f"/reports/{campaign_id}/sent-to", "sent_to", stream):
                        yield self._page(stream, [recipient_from_api(r, campaign_id) for r in items])
        elif stream == "list_members":
            lists = [require(x, "id", "mailchimp", "lists", str) for items in self._paged("/lists", "lists", "lists") for x in items]
            params = {"since_last_changed": _iso(window.cursor)} if window.cursor else {}
            for list_id in lists:
                for items in self._paged(f"/lists/{list_id}/members", "members", stream, params):
                    yield self._page(stream, [member_from_api(m, list_id) for m in items])
        else:
            raise KeyError(stream)

    def _page(self, stream: str, records: list[dict]) -> list[dict]:
        self.page_done(stream, len(records))
        return records


def _req(r: dict, key: str, stream: str, kind=None) -> Any:
    return require(r, key, "mailchimp", stream, kind)


def campaign_from_api(c: dict) -> dict:
    variate = c.get("variate_settings") or {}
    return {
        "id": _req(c, "id", "campaigns", str), "web_id": c.get("web_id"), "type": _req(c, "type", "campaigns", str),
        "status": c.get("status"), "title": (c.get("settings") or {}).get("title"),
        "subject_line": (c.get("settings") or {}).get("subject_line"),
        "list_id": (c.get("recipients") or {}).get("list_id"),
        "create_time": parse_ts(c.get("create_time")), "send_time": parse_ts(_req(c, "send_time", "campaigns", str)),
        "emails_sent": c.get("emails_sent"), "tracking_utm": (c.get("tracking") or {}).get("google_analytics"),
        "variate_combinations": json.dumps(variate["combinations"]) if variate.get("combinations") else None,
        "variate_winner": variate.get("winning_combination_id"),
    }


def report_from_api(r: dict) -> dict:
    bounces, opens, clicks = r.get("bounces") or {}, _req(r, "opens", "reports", dict), r.get("clicks") or {}
    return {
        "campaign_id": _req(r, "id", "reports", str), "list_id": r.get("list_id"), "send_time": parse_ts(r.get("send_time")),
        "emails_sent": _req(r, "emails_sent", "reports", int), "hard_bounces": bounces.get("hard_bounces"),
        "soft_bounces": bounces.get("soft_bounces"), "syntax_errors": bounces.get("syntax_errors"),
        "opens_total": opens.get("opens_total"), "unique_opens": require(opens, "unique_opens", "mailchimp", "reports", int),
        "open_rate": opens.get("open_rate"), "clicks_total": clicks.get("clicks_total"),
        "unique_clicks": clicks.get("unique_clicks"), "unique_subscriber_clicks": clicks.get("unique_subscriber_clicks"),
        "click_rate": clicks.get("click_rate"), "unsubscribed": r.get("unsubscribed"),
        "last_open": parse_ts(opens.get("last_open")), "last_click": parse_ts(clicks.get("last_click")),
    }


def activity_from_api(e: dict) -> list[dict]:
    campaign_id, email_id = _req(e, "campaign_id", "email_activity", str), _req(e, "email_id", "email_activity", str)
    email = _req(e, "email_address", "email_activity", str)
    rows = []
    for a in _req(e, "activity", "email_activity", list):
        action = require(a, "action", "mailchimp", "email_activity.activity", str)
        ts = require(a, "timestamp", "mailchimp", "email_activity.activity", str)
        url = a.get("url")
        key = "\x1f".join([campaign_id, email_id, action, ts, url or ""])
        rows.append({
            "activity_id": hashlib.sha1(key.encode()).hexdigest(), "campaign_id": campaign_id, "list_id": e.get("list_id"),
            "email_id": email_id, "email_address": email, "action": action, "timestamp": parse_ts(ts), "url": url,
            "bounce_type": a.get("type"), "ip": a.get("ip"),
        })
    return rows


def recipient_from_api(r: dict, campaign_id: str) -> dict:
    return {"campaign_id": r.get("campaign_id") or campaign_id, "email_id": _req(r, "email_id", "recipients", str),
            "email_address": _req(r, "email_address", "recipients", str), "status": r.get("status"), "list_id": r.get("list_id")}


def member_from_api(m: dict, list_id: str) -> dict:
    return {"list_id": m.get("list_id") or list_id, "id": _req(m, "id", "list_members", str),
            "email_address": _req(m, "email_address", "list_members", str), "unique_email_id": m.get("unique_email_id"),
            "contact_id": m.get("contact_id"), "status": _req(m, "status", "list_members", str),
            "timestamp_opt": parse_ts(m.get("timestamp_opt")), "last_changed": parse_ts(_req(m, "last_changed", "list_members", str))}
