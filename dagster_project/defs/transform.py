"""dbt models as Dagster assets: `dbt build` (models, and data tests as asset checks)."""


import importlib.metadata
import os
import sys
from functools import cached_property
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets
from packaging import version

from dagster_project.defs.partitions import SINGLE_RUN
from dagster_project.defs.resources import EngagementSettings
from dagster_project.lib import progress as run_progress
from dagster_project.lib.dbt_manifest import keep_partial_parse, prune_run_targets, run_target
from dagster_project.lib.dbt_translator import LayeredDbtTranslator

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_models"
dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
dbt_project.prepare_if_dev()

# Unit tests prove the models' SQL, which a scheduled run does not change: dbt advises running them in
# development and CI only. `make test` runs them (tests/e2e/test_pipeline.py); each refresh skips them.
BUILD_ARGS = ["--exclude-resource-type", "unit_test"]

# dbt-core's one event per finished node (unit tests report as tests, with a unit_test id)
NODE_RESULT_EVENTS = {"LogModelResult", "LogSeedResult", "LogSnapshotResult", "LogTestResult"}


# Not partitioned: dbt builds everything each run, and a partitioned multi-asset records one
# materialization per model per day of the range (a 28-day run took 97 s instead of 43 s). The
# single-run policy lets `dagster asset materialize --partition-range` run it with the raw loads.
@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, pool="engagement_warehouse",
            dagster_dbt_translator=LayeredDbtTranslator(), backfill_policy=SINGLE_RUN)
def engagement_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, engagement: EngagementSettings):
    settings = engagement.load()
    # dbt runs in dbt_models/: hand it the warehouse as an absolute path
    warehouse = str(Path(settings.warehouse).resolve())
    os.environ["ENGAGEMENT_WAREHOUSE"] = warehouse
    # the email reconciliation blocks only where activity and report were read together
    os.environ["ENGAGEMENT_HORIZON_DAYS"] = str(settings.horizon.days)
    target = run_target(context.op_execution_context.op.name, context.run.run_id, warehouse)
    invocation = dbt.cli(["build", *BUILD_ARGS], context=context, target_path=target)
    # what stream() does, with each finished node (model, seed, test, unit test) reported as it ends
    try:
        for event in invocation.stream_raw_events():
            if event.raw_event["info"]["name"] in NODE_RESULT_EVENTS:
                data = event.raw_event["data"]
                node = data.get("node_info", {})
                kind = node.get("unique_id", "").split(".", 1)[0]
                # a test's verdict (pass, warn, fail) is its status; a model's its node status (success, error)
                status = data.get("status") if kind in ("test", "unit_test") else node.get("node_status")
                run_progress.report("dbt_node_done", kind=kind, status=str(status or "").lower())
            yield from event.to_default_asset_events(
                manifest=invocation.manifest, dagster_dbt_translator=invocation.dagster_dbt_translator,
                context=context, target_path=invocation.target_path, project=invocation.project,
            )
    finally:
        run_progress.report("dbt_done")
    keep_partial_parse(invocation.target_path, warehouse)
    prune_run_targets(invocation.target_path)


class VenvDbtCliResource(DbtCliResource):
    """dagster-dbt's resource without two start-up costs paid on every run for features this project does not use.

    - The dbt it runs is this venv's own, so its version is dbt-core's installed version: no `dbt --version`
      subprocess (about 2 CPU seconds a run).
    - No in-process dbt adapter (1.6 CPU seconds): dagster-dbt needs it only to fetch row counts and column
      metadata, which these assets do not ask for.
    tests/dagster_project/test_definitions.py checks both against dagster-dbt and the real `dbt --version`.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):
        return None


def dbt_resource() -> DbtCliResource:
    # the venv's dbt, whether or not the venv is on PATH; the working warehouse's target, whatever DBT_TARGET says
    # (DBT_TARGET=serving is for MetricFlow's read-only queries of the snapshot)
    return VenvDbtCliResource(
        project_dir=dbt_project, profiles_dir=str(DBT_PROJECT_DIR), target="dev",
        dbt_executable=str(Path(sys.executable).parent / "dbt"),
    )
