"""HubSpot CRM v3 contacts: the identity links (email, site user id, X handle, Facebook id) and the
holdout property (campaign keys the contact was held out of, `;`-separated as HubSpot stores a
multi-select; `all` for a universal holdout).

Values are kept exactly as stored in the CRM (normalisation is dbt staging's job). `updated_at`
is the `lastmodifieddate` property, the one the incremental search filters and sorts on, so the
loader's cursor (max `updated_at`) and the search filter always mean the same clock. Only active
(non-archived) contacts are listed, as HubSpot does by default.

- Whole pull (`window.cursor is None`): GET /crm/v3/objects/contacts with `after` cursor paging
  until `paging.next` is absent.
- Incremental (`window.cursor` set): POST /crm/v3/objects/contacts/search for
  `lastmodifieddate >= cursor`, sorted ascending. Search answers at most 10,000 results per
  query (asking for `after >= 10000` is a 400), so when the next `after` would reach the cap
  the search restarts with `lastmodifieddate >= <the last lastmodifieddate seen>`. Contacts
  sharing that timestamp come again; the merge on `id` absorbs the repeats. If a whole capped
  query shares one timestamp (a bulk import), restarting cannot make progress, and the client
  falls back to the whole pull, which has no cap.

Limits: HubSpot allows an app 100 requests per rolling 10 seconds (Free and Starter accounts; more on
higher tiers) and the search endpoints 4 per second; the client paces itself to both (`RATES`).
Both pulls follow a cursor from page to page, so one stream reads one page at a time; the whole
pull sends each next request as soon as an answer names it (`token_pages(ahead=True)`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pyarrow as pa

from connectors.http import ApiClient, ConfigError, RateLimit, SchemaError, validate_base_url
from connectors.pages import token_pages
from connectors.records import parse_ts, require
from connectors.sources import Setting, Source
from connectors.streams import StreamSpec, Window, spec_by_name

SOURCE = "hubspot"
STREAM = "contacts"
DEFAULT_BASE_URL = "https://api.hubapi.com"
DECLARATION = Source("hubspot", "HubSpot CRM v3", "connectors.hubspot:HubSpotClient", (
    Setting("HUBSPOT_ACCESS_TOKEN", "access_token", help="private app token, scope crm.objects.contacts.read"),
    Setting("HUBSPOT_API_URL", "base_url", required=False, example=DEFAULT_BASE_URL),
    Setting("HUBSPOT_USER_ID_PROPERTY", "user_id_property", required=False, default="site_user_id",
            example="site_user_id", help="contact property holding the site's user id"),
    Setting("HUBSPOT_X_HANDLE_PROPERTY", "x_handle_property", required=False, default="twitterhandle",
            example="twitterhandle", help="HubSpot's standard X handle property"),
    Setting("HUBSPOT_FACEBOOK_ID_PROPERTY", "facebook_id_property", required=False, default="facebook_user_id",
            example="facebook_user_id", help="contact property holding the Facebook user id"),
    Setting("HUBSPOT_HOLDOUT_PROPERTY", "holdout_property", required=False, default="engagement_holdout",
            example="engagement_holdout",
            help="multi-select: campaign keys the contact is held out of (`;`-separated), `all` = never marketed to"),
), "connectors.sandbox.api_hubspot")
LIST_PAGE_SIZE = 100  # the list endpoint's maximum `limit`
SEARCH_PAGE_SIZE = 200  # the search endpoint's maximum `limit`
SEARCH_RESULT_CAP = 10_000  # results one search query can page through
LIST_ENDPOINT = "crm/v3/objects/contacts"
SEARCH_ENDPOINT = "crm/v3/objects/contacts/search"
TS = pa.timestamp("us", tz="UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_PROPERTY = re.compile(r"^[A-Za-z0-9_]+$")

CONTACTS = StreamSpec(
    SOURCE, STREAM,
    pa.schema([
        ("id", pa.string()),
        ("email", pa.string()),
        ("site_user_id", pa.string()),
        ("x_handle", pa.string()),
        ("facebook_user_id", pa.string()),
        ("holdout", pa.string()),
        ("created_at", TS),
        ("updated_at", TS),
        ("archived", pa.bool_()),
    ]),
    ("id",), strategy="merge", cursor_column="updated_at",
    description="CRM contacts with their identifier properties exactly as stored (normalised in dbt staging); holdout is "
                "the holdout property's raw value (NULL when empty)",
)


@dataclass
class HubSpotClient(ApiClient):
    """Build with `from_settings` (validates everything); the constructor trusts its arguments."""

    access_token: str = field(default="", repr=False)
    user_id_property: str = "site_user_id"
    x_handle_property: str = "twitterhandle"
    facebook_id_property: str = "facebook_user_id"
    holdout_property: str = "engagement_holdout"
    page_size: int = LIST_PAGE_SIZE
    search_page_size: int = SEARCH_PAGE_SIZE
    search_cap: int = SEARCH_RESULT_CAP

    source = SOURCE
    STREAMS = (CONTACTS,)
    # the lowest tier's documented limits: 100 requests per rolling 10 s, and search at 4 per second
    RATES = (RateLimit(100, 10.0), RateLimit(4, 1.0, frozenset({SEARCH_ENDPOINT})))
    WORKERS = 1  # each next page needs the previous page's cursor

    @classmethod
    def from_settings(
        cls,
        access_token: str | None,
        base_url: str | None = None,
        user_id_property: str | None = None,
        x_handle_property: str | None = None,
        facebook_id_property: str | None = None,
        holdout_property: str | None = None,
        **kw: Any,
    ) -> HubSpotClient:
        if not (access_token or "").strip():
            raise ConfigError("HUBSPOT_ACCESS_TOKEN is empty: set it to a private app token with crm.objects.contacts.read")
        props = {}
        for variable, name, value, default in (
            ("HUBSPOT_USER_ID_PROPERTY", "user_id_property", user_id_property, "site_user_id"),
            ("HUBSPOT_X_HANDLE_PROPERTY", "x_handle_property", x_handle_property, "twitterhandle"),
            ("HUBSPOT_FACEBOOK_ID_PROPERTY", "facebook_id_property", facebook_id_property, "facebook_user_id"),
            ("HUBSPOT_HOLDOUT_PROPERTY", "holdout_property", holdout_property, "engagement_holdout"),
        ):
            value = (value or default).strip()
            if not _PROPERTY.match(value):
                raise ConfigError(f"{variable} must be a contact property's internal name like {default} (got {value!r})")
            props[name] = value
        return cls(
            base_url=validate_base_url(base_url, "HUBSPOT_API_URL", DEFAULT_BASE_URL),
            access_token=access_token.strip(),
            **props,
            **kw,
        )

    # --- the API's dialect ------------------------------------------------------------
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    def secrets(self) -> tuple[str, ...]:
        return (self.access_token,)

    def error_message(self, body: Any, response) -> str:
        """{"status":"error","message":...,"category"|"errorType":...} -> "message (CATEGORY)"."""
        if isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"]:
            category = body.get("category") or body.get("errorType")
            return f"{body['message']} ({category})" if isinstance(category, str) and category else body["message"]
        return super().error_message(body, response)

    # --- the stream -------------------------------------------------------------------
    @property
    def properties(self) -> list[str]:
        wanted = ["email", self.user_id_property, self.x_handle_property, self.facebook_id_property,
                  self.holdout_property, "createdate", "lastmodifieddate"]
        return list(dict.fromkeys(wanted))

    def read(self, stream: str, window: Window) -> Iterator[list[dict]]:
        spec_by_name(self.STREAMS, stream)  # KeyError naming the known streams
        if window.cursor is None:
            yield from self._list()
        else:
            yield from self._search(window.cursor)

    def _list(self) -> Iterator[list[dict]]:
        url = f"{self.base_url}/crm/v3/objects/contacts"

        def fetch(after: str | None) -> dict:
            params = {"limit": min(self.page_size, LIST_PAGE_SIZE), "properties": ",".join(self.properties)}
            if after is not None:
                params["after"] = after
            return self._page(self.request("GET", url, endpoint=LIST_ENDPOINT, params=params))

        # the next page is asked for as soon as an answer names it, while this one becomes records:
        # a whole pull is one page after another, so the chain must wait for answers only
        for body in token_pages(fetch, next_token=_next_after, source=self.source, endpoint=LIST_ENDPOINT,
                                what="paging.next.after", ahead=True):
            records = [self.from_api(r) for r in self.watch_fields(STREAM, body["results"])]
            self.page_done(STREAM, len(records))
            if records:
                yield records

    def _search(self, cursor: datetime) -> Iterator[list[dict]]:
        url = f"{self.base_url}/crm/v3/objects/contacts/search"
        since_ms = _epoch_ms(cursor)
        limit = min(self.search_page_size, SEARCH_PAGE_SIZE)
        while True:  # one search query per pass; a pass ends at the result cap or the last page
            after: str | None = None
            last_seen: datetime | None = None
            while True:
                query = {
                    "filterGroups": [{"filters": [
                        {"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(since_ms)}]}],
                    "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                    "properties": self.properties,
                    "limit": limit,
                }
                if after is not None:
                    query["after"] = after
                body = self._page(self.request("POST", url, endpoint=SEARCH_ENDPOINT, json=query))
                records = [self.from_api(r) for r in self.watch_fields(STREAM, body["results"])]
                self.page_done(STREAM, len(records))
                if records:
                    yield records
                    newest = max(r["updated_at"] for r in records)
                    last_seen = newest if last_seen is None else max(last_seen, newest)
                after = _next_after(body)
                if after is None:
                    return
                if not after.isdigit():
                    raise SchemaError(SOURCE, STREAM, "paging.next.after", f"not an offset ({after[:40]!r})")
                if int(after) >= self.search_cap:
                    break  # this query can page no further
            restart_ms = _epoch_ms(last_seen) if last_seen else since_ms
            if restart_ms <= since_ms:
                # every result of a capped query shares one timestamp: only the whole pull gets past it
                yield from self._list()
                return
            since_ms = restart_ms

    @staticmethod
    def _page(body: Any) -> dict:
        if not isinstance(body, dict):
            raise SchemaError(SOURCE, STREAM, "results", "missing (the answer is not a JSON object)")
        require(body, "results", SOURCE, STREAM, list)
        return body

    def from_api(self, r: dict) -> dict:
        """One HubSpot contact object -> one `contacts` record."""
        if not isinstance(r, dict):
            raise SchemaError(SOURCE, STREAM, "results[]", f"of type {type(r).__name__}")
        props = require(r, "properties", SOURCE, STREAM, dict)
        archived = r.get("archived", False)
        if not isinstance(archived, bool):
            raise SchemaError(SOURCE, STREAM, "archived", f"of type {type(archived).__name__}")
        return {
            "id": require(r, "id", SOURCE, STREAM, str),
            "email": _optional(props, "email"),
            "site_user_id": _optional(props, self.user_id_property),
            "x_handle": _optional(props, self.x_handle_property),
            "facebook_user_id": _optional(props, self.facebook_id_property),
            "holdout": _optional(props, self.holdout_property) or None,  # HubSpot sends an empty multi-select as ""
            "created_at": _timestamp(r, "createdAt"),
            # the property the search filters and sorts on, so the stored cursor means the same thing
            "updated_at": _timestamp(props, "lastmodifieddate", "properties."),
            "archived": archived,
        }


def _optional(props: dict, name: str) -> str | None:
    """A requested property: null when empty, a string otherwise (HubSpot sends every value as a string)."""
    value = props.get(name)
    if value is not None and not isinstance(value, str):
        raise SchemaError(SOURCE, STREAM, f"properties.{name}", f"of type {type(value).__name__}")
    return value


def _timestamp(r: dict, key: str, prefix: str = "") -> datetime:
    value = r.get(key) if isinstance(r, dict) else None
    if value is None:
        raise SchemaError(SOURCE, STREAM, prefix + key)
    if not isinstance(value, str):
        raise SchemaError(SOURCE, STREAM, prefix + key, f"of type {type(value).__name__}")
    try:
        return parse_ts(value)
    except ValueError:
        raise SchemaError(SOURCE, STREAM, prefix + key, f"not an ISO 8601 timestamp ({value[:40]!r})") from None


def _next_after(body: dict) -> str | None:
    paging = body.get("paging")
    nxt = paging.get("next") if isinstance(paging, dict) else None
    after = nxt.get("after") if isinstance(nxt, dict) else None
    if after is None or after == "":
        return None
    return str(after)


def _epoch_ms(ts: datetime) -> int:
    """Milliseconds since the epoch, rounded down (a GTE filter then never skips the boundary)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    return (ts - _EPOCH) // timedelta(milliseconds=1)
