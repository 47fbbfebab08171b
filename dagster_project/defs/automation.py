"""The daily refresh: yesterday's partition, widened back by the lookback; then dbt build, checks, publish."""

from __future__ import annotations

import dagster as dg

refresh_job = dg.define_asset_job(
    "refresh",
    selection=dg.AssetSelection.all(),
    description="Pull the partition's window (plus ENGAGEMENT_LOOKBACK_DAYS, and interactions within ENGAGEMENT_HORIZON_DAYS) from every enabled source, load it, "
    "run dbt build (models and tests) and publish the serving snapshot if every blocking check passed.",
)

daily_refresh_schedule = dg.build_schedule_from_partitioned_job(
    refresh_job, hour_of_day=3, minute_of_hour=0, name="daily_refresh"
)
