"""The end-to-end and daily benchmarks at a tiny scale, so they cannot rot."""

from __future__ import annotations

import pytest

from benchmarks import daily, e2e, horizon

pytestmark = pytest.mark.slow


def test_e2e_times_every_stage_measures_memory_and_checks_truth():
    printed: list[str] = []
    result = e2e.run(records=[3_000], out=printed.append)
    (run,) = result.runs
    assert run.truth_ok and run.records > 2_000
    assert all(run.seconds[s] > 0 for s in e2e.TIMED_STAGES)
    assert abs(sum(run.seconds.values()) - run.total) < 0.5  # the stages account for the wall time
    assert 100 * 2**20 < run.peak_tree < 4 * 2**30
    assert "Wall time per stage" in result.markdown and "Peak resident memory" in result.markdown


@pytest.mark.timeout(900)  # three whole refreshes in subprocesses; a hang guard, not a speed target
def test_daily_refresh_fetches_a_fraction_of_the_full_rebuild():
    result = daily.run(scale=0.05, quiet=True)
    assert result["raw_rows"] > 0
    assert 0 < result["daily"]["fetched"] < result["full"]["fetched"] / 3
    assert 0 < result["daily"]["dbt_seconds"] and 0 < result["full"]["dbt_seconds"]  # this run's own run_results
    assert 0 < result["share"] and "daily / full" in daily.report(result)
    assert result["nothing new"]["fetched"] <= result["daily"]["fetched"]
    assert all(result[run]["cpu_seconds"] > 0 for run in ("full", "daily", "nothing new"))


def test_horizon_benchmark_counts_the_extra_requests_within_xs_limits():
    printed: list[str] = []
    result = horizon.run(scale=0.1, out=printed.append)
    assert result["requests"]["default horizon"] > result["requests"]["lookback only"] > 0
    assert 0 < result["x_calls"]["x.liking_users"] <= 75
    assert "extra" in printed[1] and "allowed per 15 min" in printed[2]
