"""dbt models as Dagster assets: `dbt build` (models, tests as asset checks, unit tests)."""


import os
import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from dagster_project.defs.resources import EngagementSettings
from dagster_project.lib.dbt_manifest import keep_partial_parse
from dagster_project.lib.engine import dbt_environment, dbt_target_args, is_spark, read_back_exports

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_models"
dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
dbt_project.prepare_if_dev()


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, pool="engagement_warehouse")
def engagement_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, engagement: EngagementSettings):
    settings = engagement.load()
    # dbt runs in dbt_models/: hand it the warehouse (and on Spark the lake) as absolute paths
    os.environ.update(dbt_environment(settings))
    # the email reconciliation blocks only where activity and report were read together
    os.environ["ENGAGEMENT_HORIZON_DAYS"] = str(settings.horizon.days)
    invocation = dbt.cli(["build", *dbt_target_args(settings)], context=context)
    yield from invocation.stream()
    keep_partial_parse(invocation.target_path)
    if is_spark(settings):  # the marts come home to the warehouse the statistics and publish read
        exported = read_back_exports(settings)
        context.log.info(f"read back from Spark: {sum(exported.values())} rows in {len(exported)} tables")


def dbt_resource() -> DbtCliResource:
    # the venv's dbt, whether or not the venv is on PATH
    return DbtCliResource(project_dir=dbt_project, profiles_dir=str(DBT_PROJECT_DIR), dbt_executable=str(Path(sys.executable).parent / "dbt"))
