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
from dagster_project.lib import build_state
from dagster_project.lib import progress as run_progress
from dagster_project.lib.dbt_manifest import keep_partial_parse, project_digest, prune_run_targets, run_target
from dagster_project.lib.dbt_translator import LayeredDbtTranslator
from dagster_project.lib.engine import dbt_build_args, dbt_environment, dbt_target, is_spark, parse_state_key, read_back_exports
from dagster_project.lib.run_window import run_window
from dagster_project.lib.settings import Settings

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_models"
dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
dbt_project.prepare_if_dev()

# dbt-core's one event per finished node (unit tests report as tests, with a unit_test id)
NODE_RESULT_EVENTS = {"LogModelResult", "LogSeedResult", "LogSnapshotResult", "LogTestResult"}


# Not partitioned: dbt builds everything each run, and a partitioned multi-asset records one
# materialization per model per day of the range (a 28-day run took 97 s instead of 43 s). The
# single-run policy lets `dagster asset materialize --partition-range` run it with the raw loads.
@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, pool="engagement_warehouse",
            dagster_dbt_translator=LayeredDbtTranslator(), backfill_policy=SINGLE_RUN)
def engagement_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, engagement: EngagementSettings):
    settings = engagement.load()
    # dbt runs in dbt_models/: hand it the warehouse (and on Spark the lake) as absolute paths
    os.environ.update(dbt_environment(settings))
    # the email reconciliation blocks only where activity and report were read together
    os.environ["ENGAGEMENT_HORIZON_DAYS"] = str(settings.horizon.days)
    # the engine picks the target, never an exported DBT_TARGET (that is for MetricFlow's serving reads)
    if dbt.target != dbt_target(settings):
        dbt = dbt.model_copy(update={"target": dbt_target(settings)})
    fingerprint = None
    if not is_spark(settings) and set(context.selected_asset_keys) == set(engagement_dbt_models.keys):
        fingerprint = build_state.inputs_fingerprint(settings.warehouse, project_digest(),
                                                     build_inputs(settings, context.run.tags, dbt.target))
        last = build_state.published(settings.warehouse)
        if last and last[0] == fingerprint and Path(settings.serving).exists():
            # nothing yielded: the statistics and publish downstream are skipped too (lib/build_state.py)
            context.log.info(f"nothing new: the inputs equal those of the snapshot run {last[1]} published at {last[2]}; "
                             "dbt build, the statistics and publish are skipped")
            run_progress.report("dbt_skipped")
            return
    build_state.building(settings.warehouse, fingerprint, context.run.run_id)
    state_key = parse_state_key(settings)
    target = run_target(context.op_execution_context.op.name, context.run.run_id, state_key)
    invocation = dbt.cli(["build", *dbt_build_args(settings)], context=context, target_path=target)
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
    keep_partial_parse(invocation.target_path, state_key)
    prune_run_targets(invocation.target_path)
    if is_spark(settings):  # the marts come home to the warehouse the statistics and publish read
        builds_marts = any(key.path[0] == "marts" for key in context.selected_asset_keys)
        exported = read_back_exports(settings, required=builds_marts)
        context.log.info(f"read back from Spark: {sum(exported.values())} rows in {len(exported)} tables")


def build_inputs(settings: Settings, tags, target: str) -> list[tuple[str, object]]:
    """What dbt and publish read besides the raw tables and the project's code (lib/build_state.py)."""
    return [("window", run_window(tags)), ("dbt_args", dbt_build_args(settings)), ("dbt_env", sorted(dbt_environment(settings).items())),
            ("target", target), ("horizon_days", settings.horizon.days), ("serving", Path(settings.serving).resolve()),
            ("salt", settings.pii_salt), ("engine", settings.engine)]


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
