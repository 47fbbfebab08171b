"""Resources: configuration is read from the environment when a run starts, never at import."""

from __future__ import annotations

import dagster as dg

from dagster_project.lib.clients import check_clients
from dagster_project.lib.settings import Settings, load_settings


class EngagementSettings(dg.ConfigurableResource):
    """Reads ENGAGEMENT_* and the per-source variables (see .env.example) at run time."""

    def load(self) -> Settings:
        settings = load_settings()
        check_clients(settings)  # a malformed value fails every asset alike, so no source loads while another cannot
        return settings
