"""The one composition root: assets, jobs, schedule and resources, assembled here only."""

from __future__ import annotations

import dagster as dg

from dagster_project.defs.automation import daily_refresh_schedule, refresh_job
from dagster_project.defs.experiments import fct_experiment_results
from dagster_project.defs.ingestion import ingestion_assets
from dagster_project.defs.publish import publish
from dagster_project.defs.resources import EngagementSettings
from dagster_project.defs.transform import dbt_resource, engagement_dbt_models

defs = dg.Definitions(
    assets=[*ingestion_assets(), engagement_dbt_models, fct_experiment_results, publish],
    jobs=[refresh_job],
    schedules=[daily_refresh_schedule],
    resources={"engagement": EngagementSettings(), "dbt": dbt_resource()},
    executor=dg.in_process_executor,  # DuckDB allows one writer: steps run one after another
)
