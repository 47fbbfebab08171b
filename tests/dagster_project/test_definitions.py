"""The Dagster definitions load from a fresh checkout and keep lineage continuous."""

from __future__ import annotations

import json

import dagster as dg


def test_definitions_load_with_one_asset_per_stream_and_dbt_sources_as_their_upstream(dbt_manifest):
    from dagster_project.definitions import defs
    from dagster_project.lib.clients import all_streams

    specs = all_streams()
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    stream_keys = {f"raw_{s.source}/{s.name}" for s in specs}
    assert stream_keys <= keys
    assert len(specs) == len(stream_keys) == 17

    manifest = json.loads(dbt_manifest.read_text())
    source_keys = {f"{s['source_name']}/{s['name']}" for s in manifest["sources"].values()}
    assert source_keys == stream_keys  # every raw table is a dbt source, and nothing else is

    contacts = dg.AssetKey(["raw_hubspot", "contacts"])
    staging = next(k for k in keys if k.endswith("stg_hubspot__contacts"))
    assert contacts in graph.get(dg.AssetKey.from_user_string(staging)).parent_keys


def test_refresh_job_and_daily_schedule_exist(dbt_manifest):
    from dagster_project.definitions import defs

    job = defs.resolve_job_def("refresh")
    assert job.partitions_def is not None
    schedule = defs.resolve_schedule_def("daily_refresh")
    assert schedule.cron_schedule == "0 3 * * *"
