"""The architecture as the Dagster UI shows it: groups by layer, owners, and backfills as few runs as Dagster allows."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date

import dagster as dg
import pytest

from connectors.registry import SOURCES
from dagster_project.lib.clients import all_streams
from dagster_project.lib.run_window import BACKFILL_TAG, range_tags


@pytest.fixture(scope="module")
def graph(dbt_manifest):
    from dagster_project.definitions import defs

    return defs.resolve_asset_graph()


def test_dbt_assets_are_grouped_by_layer_with_owners_and_descriptions_from_the_dbt_yaml(graph, dbt_manifest):
    from dagster_project.defs.transform import engagement_dbt_models

    manifest = json.loads(dbt_manifest.read_text())
    nodes = {node["name"]: node for node in manifest["nodes"].values() if node["resource_type"] in ("model", "seed")}
    groups = Counter(graph.get(key).group_name for key in engagement_dbt_models.keys)
    # marts: the nine marts and MetricFlow's time spine
    assert groups == {"staging": 29, "intermediate": 12, "marts": 10, "experiments": 6, "seeds": 2}
    expected = {
        "stg_ga4__user_days": ("staging", "team:data-engineering"),
        "int_identity__persons": ("intermediate", "team:data-engineering"),
        "fct_campaign_engaged_users": ("marts", "team:marketing-analytics"),
        "int_experiment__assignments": ("experiments", "team:experimentation"),  # experiments/intermediate/
        "fct_experiment_arms": ("experiments", "team:experimentation"),
        "campaign_aliases": ("seeds", "team:marketing-analytics"),
    }
    by_name = {key.path[-1]: graph.get(key) for key in engagement_dbt_models.keys}
    assert {name: (by_name[name].group_name, list(by_name[name].owners)) for name in expected} == {
        name: (group, [owner]) for name, (group, owner) in expected.items()
    }
    for name, node in by_name.items():  # every model and seed says what it is, in its YAML's words
        assert nodes[name]["description"] and node.description.startswith(nodes[name]["description"]), name
    assert graph.get(dg.AssetKey(["marts", "fct_experiment_results"])).group_name == "experiments"
    assert graph.get(dg.AssetKey("publish")).group_name == "serving"


def test_every_asset_runs_a_partition_range_in_one_run(graph):
    """`dagster asset materialize --select '*' --partition-range` needs the single-run policy on every asset."""
    keys = graph.get_all_asset_keys()
    assert {str(graph.get(key).backfill_policy) for key in keys} == {"BackfillPolicy.single_run()"}
    partitioned = {key for key in keys if graph.get(key).partitions_def is not None}
    assert {key.path[0] for key in partitioned} == {f"raw_{source.name}" for source in SOURCES}
    assert len(partitioned) == len(all_streams())  # reference streams (contacts, list members) too: all raw loads share one run
    assert len({graph.get(key).partitions_def for key in partitioned}) == 1


def test_a_ui_backfill_is_one_run_of_raw_loads_then_one_dbt_build(graph):
    """How Dagster cuts an asset backfill into runs (by partitions and backfill policy): 28 days of every asset."""
    from dagster._core.definitions.automation_tick_evaluation_context import build_run_requests_with_backfill_policies
    from dagster._core.definitions.events import AssetKeyPartitionKey

    days = [date(2026, 10, d).isoformat() for d in range(1, 29)]
    wanted = [AssetKeyPartitionKey(key, day if graph.get(key).partitions_def else None)
              for key in graph.get_all_asset_keys() for day in days]
    requests = build_run_requests_with_backfill_policies(wanted, graph, dynamic_partitions_store=None)
    assert len(requests) == 2
    raw, rest = sorted(requests, key=lambda r: -len(r.tags))
    assert raw.tags == range_tags(date(2026, 10, 1), date(2026, 10, 29))
    assert {key.path[0][:4] for key in raw.asset_selection} == {"raw_"} and len(raw.asset_selection) == len(all_streams())
    assert dg.AssetKey("publish") in rest.asset_selection and dg.AssetKey(["marts", "fct_experiment_results"]) in rest.asset_selection
    dbt_keys = set(graph.get(dg.AssetKey(["marts", "dim_campaign"])).execution_set_asset_keys)
    assert dbt_keys <= set(rest.asset_selection)  # the whole dbt build, once


def test_publish_after_a_ui_backfill_takes_the_window_of_the_backfills_raw_run():
    """The backfill's second run (dbt, statistics, publish) carries only the backfill id. Before, publish
    wrote a snapshot_info window of NULL after every backfill launched from the UI."""
    from dagster_project.defs.publish import publish_window

    @dg.asset
    def step():
        return 1

    with dg.instance_for_test() as instance:
        dg.materialize([step], instance=instance, tags={BACKFILL_TAG: "abcd", **range_tags(date(2026, 10, 1), date(2026, 10, 29))})
        dg.materialize([step], instance=instance, tags={BACKFILL_TAG: "other", **range_tags(date(2025, 1, 1), date(2025, 2, 1))})
        assert publish_window(instance, {BACKFILL_TAG: "abcd"}) == (date(2026, 10, 1), date(2026, 10, 29))
        assert publish_window(instance, {"dagster/partition": "2026-11-22"}) == (date(2026, 11, 22), date(2026, 11, 23))
        assert publish_window(instance, {BACKFILL_TAG: "unknown"}) is None
        assert publish_window(instance, {}) is None
