"""The throwaway instance records a range run's plan once per asset, and everything else as Dagster's own does."""

from __future__ import annotations

from collections import Counter
from datetime import date

import dagster as dg
import pytest

from dagster_project.defs.partitions import DAILY, SINGLE_RUN
from dagster_project.lib.run_window import range_tags
from dagster_project.lib.throwaway_instance import throwaway_instance

START, END = date(2026, 10, 1), date(2026, 10, 4)  # three days


@dg.asset(partitions_def=DAILY, backfill_policy=SINGLE_RUN)
def daily_stream(context) -> None:
    context.log.info(f"{len(context.partition_keys)} days")


@dg.asset(deps=[daily_stream], backfill_policy=SINGLE_RUN)
def whole_history_model() -> None:
    pass


@dg.asset(deps=[whole_history_model], backfill_policy=SINGLE_RUN)
def failing_model() -> None:
    raise RuntimeError("a model fails")


def events(instance: dg.DagsterInstance, run_id: str, kind: dg.DagsterEventType) -> Counter:
    return Counter(record.dagster_event.asset_key.to_user_string() for record in instance.all_logs(run_id, of_type=kind))


@pytest.mark.parametrize("make_instance, planned_per_asset", [(throwaway_instance, 1), (dg.DagsterInstance.ephemeral, 3)])
def test_a_range_run_plans_each_asset_once_on_the_throwaway_instance_and_each_day_on_dagsters(make_instance, planned_per_asset):
    instance = make_instance()
    result = dg.materialize([daily_stream, whole_history_model], instance=instance, tags=range_tags(START, END))
    assert result.success
    planned = events(instance, result.run_id, dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED)
    assert planned == {"daily_stream": planned_per_asset, "whole_history_model": 1}
    # what run_refresh reads is the same on both: one materialisation per day of a partitioned asset
    done = events(instance, result.run_id, dg.DagsterEventType.ASSET_MATERIALIZATION)
    assert done == {"daily_stream": 3, "whole_history_model": 1}
    if planned_per_asset == 1:  # the single event names the whole range
        (record,) = [r for r in instance.all_logs(result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED)
                     if r.dagster_event.asset_key == dg.AssetKey("daily_stream")]
        subset = record.dagster_event.event_specific_data.partitions_subset
        assert sorted(subset.get_partition_keys()) == ["2026-10-01", "2026-10-02", "2026-10-03"]


def test_a_failed_run_on_the_throwaway_instance_reports_its_failed_step():
    instance = throwaway_instance()
    result = dg.materialize([daily_stream, whole_history_model, failing_model], instance=instance,
                            tags=range_tags(START, END), raise_on_error=False)
    assert not result.success
    assert [e.step_key for e in result.get_step_failure_events()] == ["failing_model"]
    assert instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.FAILURE
