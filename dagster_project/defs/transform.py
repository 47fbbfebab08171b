"""dbt models as Dagster assets: `dbt build` (models, tests as asset checks, unit tests)."""


import os
import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from dagster_project.defs.resources import EngagementSettings
from dagster_project.lib.dbt_manifest import keep_partial_parse, prune_run_targets, run_target

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_models"
dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
dbt_project.prepare_if_dev()


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, pool="engagement_warehouse")
def engagement_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, engagement: EngagementSettings):
    settings = engagement.load()
    # dbt runs in dbt_models/: hand it the warehouse as an absolute path
    warehouse = str(Path(settings.warehouse).resolve())
    os.environ["ENGAGEMENT_WAREHOUSE"] = warehouse
    # the email reconciliation blocks only where activity and report were read together
    os.environ["ENGAGEMENT_HORIZON_DAYS"] = str(settings.horizon.days)
    target = run_target(context.op_execution_context.op.name, context.run.run_id, warehouse)
    invocation = dbt.cli(["build"], context=context, target_path=target)
    yield from invocation.stream()
    keep_partial_parse(invocation.target_path, warehouse)
    prune_run_targets(invocation.target_path)


def dbt_resource() -> DbtCliResource:
    # the venv's dbt, whether or not the venv is on PATH; the working warehouse's target, whatever DBT_TARGET says
    # (DBT_TARGET=serving is for MetricFlow's read-only queries of the snapshot)
    return DbtCliResource(
        project_dir=dbt_project, profiles_dir=str(DBT_PROJECT_DIR), target="dev",
        dbt_executable=str(Path(sys.executable).parent / "dbt"),
    )
