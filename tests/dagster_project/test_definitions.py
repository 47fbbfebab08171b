"""The Dagster definitions load from a fresh checkout and keep lineage continuous."""

from __future__ import annotations

import json
import subprocess
import sys

import dagster as dg


def test_definitions_load_with_one_asset_per_stream_and_dbt_sources_as_their_upstream(dbt_manifest):
    from dagster_project.definitions import defs
    from dagster_project.lib.clients import all_streams

    specs = all_streams()
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    stream_keys = {f"raw_{s.source}/{s.name}" for s in specs}
    assert stream_keys <= keys
    assert len(specs) == len(stream_keys) == 25  # 20 before LinkedIn (4 streams) and Facebook tags (1)

    manifest = json.loads(dbt_manifest.read_text())
    source_keys = {f"{s['source_name']}/{s['name']}" for s in manifest["sources"].values()}
    assert source_keys == stream_keys  # every raw table is a dbt source, and nothing else is

    contacts = dg.AssetKey(["raw_hubspot", "contacts"])
    staging = next(k for k in keys if k.endswith("stg_hubspot__contacts"))
    assert contacts in graph.get(dg.AssetKey.from_user_string(staging)).parent_keys


def test_loading_the_definitions_leaves_the_statistics_libraries_unimported(dbt_manifest):
    """scipy and statsmodels (with pandas and patsy) weigh ~90 MiB and are needed only after dbt:
    a process that loads the definitions to fetch, load or run dbt does not import them."""
    probe = ("import sys; from dagster_project.definitions import defs; defs.resolve_asset_graph(); "
             "print(sorted(m for m in ('scipy', 'statsmodels', 'pandas', 'patsy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_refresh_job_and_daily_schedule_exist(dbt_manifest):
    from dagster_project.definitions import defs

    job = defs.resolve_job_def("refresh")
    assert job.partitions_def is not None
    schedule = defs.resolve_schedule_def("daily_refresh")
    assert schedule.cron_schedule == "0 3 * * *"


def test_lineage_runs_from_every_stream_through_the_marts_to_publish(dbt_manifest):
    from dagster_project.definitions import defs

    graph = defs.resolve_asset_graph()
    publish = dg.AssetKey("publish")
    marts = {k for k in graph.get_all_asset_keys() if k.path[0] == "marts"}
    assert {k.path[1] for k in marts} == {
        "fct_web_engagement_daily", "fct_social_engagement_daily", "fct_email_campaign_engagement",
        "fct_email_subscriber_cadence", "fct_campaign_engaged_users", "dim_campaign", "dim_person",
        "fct_identity_match_rates", "dim_experiment", "fct_experiment_arms", "fct_experiment_results",
        "fct_person_value_monthly", "fct_engagement_reconciliation", "metricflow_time_spine",
    }
    assert graph.get(publish).parent_keys == marts
    seen, todo = set(), [publish]
    while todo:
        key = todo.pop()
        for parent in graph.get(key).parent_keys:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    assert {k for k in seen if k.path[0].startswith("raw_")} == {
        k for k in graph.get_all_asset_keys() if k.path[0].startswith("raw_")
    }


def test_dbt_tests_are_asset_checks_and_error_severity_ones_block(dbt_manifest):
    from dagster_project.defs.transform import engagement_dbt_models

    specs = {spec.name: spec for spec in engagement_dbt_models.check_specs}
    assert len(specs) >= 80
    assert specs["assert_email_opens_match_mailchimp_reports"].blocking
    assert specs["assert_identity_graph_converged"].blocking
    assert not specs["assert_ga4_engaged_sessions_follow_definition"].blocking  # warn severity


def test_publish_knows_the_window_of_a_range_run_and_of_a_scheduled_partition():
    from datetime import date

    from dagster_project.lib.run_window import range_tags, run_window

    tags = {"dagster/asset_partition_range_start": "2026-10-01", "dagster/asset_partition_range_end": "2026-10-28"}
    assert run_window(tags) == (date(2026, 10, 1), date(2026, 10, 29))
    assert range_tags(date(2026, 10, 1), date(2026, 10, 29)) == tags
    assert run_window({"dagster/partition": "2026-11-22"}) == (date(2026, 11, 22), date(2026, 11, 23))
    assert run_window({}) is None


def test_the_daily_schedule_refreshes_yesterday(dbt_manifest):
    from datetime import datetime, timezone

    from dagster_project.definitions import defs

    schedule = defs.resolve_schedule_def("daily_refresh")
    # both as context managers: an unclosed schedule context leaves the instance it opened as Dagster's current
    # state storage, and a later test's materialize in this worker then fails on that dead instance
    with dg.instance_for_test() as instance, dg.build_schedule_context(
        instance=instance, scheduled_execution_time=datetime(2026, 11, 23, 3, 0, tzinfo=timezone.utc),
        repository_def=defs.get_repository_def(),
    ) as context:
        result = schedule.evaluate_tick(context)
    assert [request.partition_key for request in result.run_requests] == ["2026-11-22"]


def test_the_dbt_resource_skips_only_start_up_work_whose_answers_it_already_has(dbt_manifest):
    """dagster-dbt asks `dbt --version` and builds an adapter on every run; ours answers from the venv."""
    import inspect
    import re
    import subprocess

    from dagster_dbt import DbtCliResource

    from dagster_project.defs.transform import VenvDbtCliResource, dbt_resource

    resource = dbt_resource()
    printed = subprocess.run([resource.dbt_executable, "--version"], capture_output=True, text=True, check=True).stdout
    assert str(resource._cli_version) == re.search(r"(\d+\.\d+\.\d+)", printed).group(1)
    # the methods overridden still exist in dagster-dbt, and cli() tolerates a missing adapter (dbt Fusion has none)
    assert isinstance(inspect.getattr_static(DbtCliResource, "_cli_version"), type(VenvDbtCliResource.__dict__["_cli_version"]))
    assert "_initialize_dbt_core_adapter" in inspect.getsource(DbtCliResource.cli)
    assert "adapter: BaseAdapter | None = None" in inspect.getsource(DbtCliResource.cli)
    assert resource._initialize_dbt_core_adapter(["build"]) is None
