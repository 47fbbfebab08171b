"""Builds each source's connector client from Settings: the one place env names meet constructors."""

from __future__ import annotations

from collections.abc import Callable

from connectors.facebook import FacebookClient
from connectors.ga4 import Ga4Client
from connectors.http import ApiClient, RequestStats, RetryPolicy
from connectors.hubspot import HubSpotClient
from connectors.mailchimp import MailchimpClient
from connectors.streams import StreamSpec
from connectors.x import XClient
from dagster_project.lib.settings import Settings

CONNECTORS: dict[str, type[ApiClient]] = {
    "ga4": Ga4Client,
    "mailchimp": MailchimpClient,
    "x": XClient,
    "facebook": FacebookClient,
    "hubspot": HubSpotClient,
}


def all_streams() -> list[StreamSpec]:
    return [spec for cls in CONNECTORS.values() for spec in cls.STREAMS]


def check_clients(settings: Settings) -> None:
    """Build every enabled source's client once: each validates its own values (ids, key formats) without a request.

    Run before any asset, so a malformed value fails the whole run before anything is fetched or written.
    """
    for source in settings.sources:
        build_client(source, settings)


def build_client(
    source: str,
    settings: Settings,
    on_progress: Callable[[str, RequestStats], None] | None = None,
    policy: RetryPolicy | None = None,
) -> ApiClient:
    s = settings.get
    common = {"on_progress": on_progress, "policy": policy or RetryPolicy()}
    if source == "ga4":
        return Ga4Client.from_settings(
            property_id=s("GA4_PROPERTY_ID"), access_token=s("GA4_ACCESS_TOKEN"),
            user_id_dimension=s("GA4_USER_ID_DIMENSION"), base_url=s("GA4_API_URL"), **common,
        )
    if source == "mailchimp":
        return MailchimpClient.from_settings(api_key=s("MAILCHIMP_API_KEY"), base_url=s("MAILCHIMP_API_URL"), **common)
    if source == "x":
        return XClient.from_settings(user_id=s("X_USER_ID"), bearer_token=s("X_BEARER_TOKEN"), base_url=s("X_API_URL"), **common)
    if source == "facebook":
        return FacebookClient.from_settings(
            page_id=s("FACEBOOK_PAGE_ID"), access_token=s("FACEBOOK_ACCESS_TOKEN"), base_url=s("FACEBOOK_GRAPH_URL"), **common,
        )
    if source == "hubspot":
        return HubSpotClient.from_settings(
            access_token=s("HUBSPOT_ACCESS_TOKEN"), base_url=s("HUBSPOT_API_URL"),
            user_id_property=s("HUBSPOT_USER_ID_PROPERTY"), x_handle_property=s("HUBSPOT_X_HANDLE_PROPERTY"),
            facebook_id_property=s("HUBSPOT_FACEBOOK_ID_PROPERTY"), holdout_property=s("HUBSPOT_HOLDOUT_PROPERTY"), **common,
        )
    raise KeyError(source)
