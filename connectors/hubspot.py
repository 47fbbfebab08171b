"""HubSpot CRM v3 contacts: the identity links (email, site user id, X handle, Facebook id).

Whole pull: GET /crm/v3/objects/contacts, `after` cursor paging until `paging.next` is absent.
Incremental: POST /crm/v3/objects/contacts/search on lastmodifieddate >= cursor, sorted
ascending. Search stops at 10,000 results per query, so when a query reaches the cap it is
restarted from the last lastmodifieddate seen (the merge on `id` absorbs the overlap).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import pyarrow as pa

from connectors.http import ApiClient, require, validate_base_url
from connectors.streams import StreamSpec, Window, parse_ts

DEFAULT_BASE_URL = "https://api.hubapi.com"
SEARCH_RESULT_CAP = 10_000
TS = pa.timestamp("us", tz="UTC")

CONTACTS = StreamSpec(
    "hubspot", "contacts",
    pa.schema([("id", pa.string()), ("email", pa.string()), ("site_user_id", pa.string()), ("x_handle", pa.string()),
               ("facebook_user_id", pa.string()), ("created_at", TS), ("updated_at", TS), ("archived", pa.bool_())]),
    ("id",), cursor_column="updated_at",
    description="CRM contacts with the identifier properties exactly as stored (normalised in dbt staging)",
)


@dataclass
class HubSpotClient(ApiClient):
    access_token: str = ""
    user_id_property: str = "site_user_id"
    x_handle_property: str = "twitterhandle"
    facebook_id_property: str = "facebook_user_id"
    page_size: int = 100

    source = "hubspot"
    STREAMS = (CONTACTS,)

    @classmethod
    def from_settings(cls, access_token: str, base_url: str | None = None, **kw: Any) -> HubSpotClient:
        return cls(base_url=validate_base_url(base_url, "HUBSPOT_API_URL", DEFAULT_BASE_URL), access_token=access_token, **kw)

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    def secrets(self) -> tuple[str, ...]:
        return (self.access_token,)

    def error_message(self, body: Any, response) -> str:
        if isinstance(body, dict) and body.get("message"):
            category = body.get("category") or body.get("errorType")
            return f"{body['message']} ({category})" if category else body["message"]
        return super().error_message(body, response)

    @property
    def properties(self) -> list[str]:
        return ["email", self.user_id_property, self.x_handle_property, self.facebook_id_property, "createdate", "lastmodifieddate"]

    def read(self, stream: str, window: Window) -> Iterator[list[dict]]:
        if stream != "contacts":
            raise KeyError(stream)
        yield from (self._search(window.cursor) if window.cursor else self._list())

    def _list(self) -> Iterator[list[dict]]:
        after = None
        while True:
            params = {"limit": self.page_size, "properties": ",".join(self.properties), "archived": "false"}
            if after:
                params["after"] = after
            body = self.request("GET", f"{self.base_url}/crm/v3/objects/contacts", endpoint="contacts", params=params)
            records = [self.from_api(r) for r in body.get("results", [])]
            self.page_done("contacts", len(records))
            yield records
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return

    def _search(self, since) -> Iterator[list[dict]]:
        since_ms = int(since.timestamp() * 1000)
        while True:
            after, last_modified = 0, None
            while True:
                body = self.request("POST", f"{self.base_url}/crm/v3/objects/contacts/search", endpoint="contacts/search", json={
                    "filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(since_ms)}]}],
                    "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                    "properties": self.properties, "limit": min(self.page_size * 2, 200), "after": after,
                })
                records = [self.from_api(r) for r in body.get("results", [])]
                self.page_done("contacts", len(records))
                yield records
                if records:
                    last_modified = records[-1]["updated_at"]
                nxt = ((body.get("paging") or {}).get("next") or {}).get("after")
                if not nxt:
                    return
                after = int(nxt)
                if after >= SEARCH_RESULT_CAP:
                    break  # the cap: restart the search from the last modification time seen
            new_ms = int(last_modified.timestamp() * 1000) if last_modified else since_ms
            if new_ms <= since_ms:
                return
            since_ms = new_ms

    def from_api(self, r: dict) -> dict:
        props = require(r, "properties", "hubspot", "contacts", dict)
        return {
            "id": str(require(r, "id", "hubspot", "contacts")),
            "email": props.get("email"),
            "site_user_id": props.get(self.user_id_property),
            "x_handle": props.get(self.x_handle_property),
            "facebook_user_id": props.get(self.facebook_id_property),
            "created_at": parse_ts(r.get("createdAt") or props.get("createdate")),
            "updated_at": parse_ts(require(r, "updatedAt", "hubspot", "contacts", str)),
            "archived": bool(r.get("archived", False)),
        }
