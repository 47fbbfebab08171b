"""Builds each source's connector client from Settings, as its declaration says (connectors/registry.py)."""

from __future__ import annotations

from collections.abc import Callable

from connectors.http import DEFAULT_TIMEOUT, ApiClient, RequestStats, RetryPolicy
from connectors.registry import SOURCES, source
from connectors.streams import StreamSpec
from dagster_project.lib.settings import Settings

CONNECTORS: dict[str, type[ApiClient]] = {declared.name: declared.client_class for declared in SOURCES}


def all_streams() -> list[StreamSpec]:
    return [spec for declared in SOURCES for spec in declared.streams]


def check_clients(settings: Settings) -> None:
    """Build every enabled source's client once: each validates its own values (ids, key formats) without a request.

    Run before any asset, so a malformed value fails the whole run before anything is fetched or written.
    """
    for name in settings.sources:
        build_client(name, settings)


def build_client(
    name: str,
    settings: Settings,
    on_progress: Callable[[str, RequestStats], None] | None = None,
    policy: RetryPolicy | None = None,
) -> ApiClient:
    declared = source(name)
    return declared.client_class.from_settings(
        **declared.client_arguments(settings.get), on_progress=on_progress, policy=policy or RetryPolicy(),
        timeout=(DEFAULT_TIMEOUT[0], settings.read_timeout),
    )
