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
    # the same day again finds the published snapshot's inputs: dbt, the statistics and publish are skipped
    assert result["nothing new"]["dbt_skipped"] and not result["daily"]["dbt_skipped"]
    (row,) = [line for line in daily.report(result).splitlines() if "nothing new" in line]
    assert row.rstrip(" |").endswith("skipped")
    assert all(result[run]["cpu_seconds"] > 0 for run in ("full", "daily", "nothing new"))


def test_horizon_benchmark_counts_the_extra_requests_within_xs_limits():
    printed: list[str] = []
    result = horizon.run(scale=0.1, out=printed.append)
    assert result["requests"]["default horizon"] > result["requests"]["lookback only"] > 0
    assert 0 < result["x_calls"]["x.liking_users"] <= 75
    assert "extra" in printed[1] and "allowed per 15 min" in printed[2]


def test_history_table_divides_each_refresh_at_the_longest_history_by_the_shortest():
    def refreshes(full, daily_, nothing):
        return {name: {"seconds": s, "cpu_seconds": 2 * s} for name, s in (("full", full), ("daily", daily_), ("nothing new", nothing))}
    results = {180: {"scale": 1.0, "seed": 7, "raw_rows": 60_000, **refreshes(90.0, 24.0, 20.0)},
               30: {"scale": 1.0, "seed": 7, "raw_rows": 10_000, **refreshes(30.0, 20.0, 20.0)}}
    text = daily.history_report(results)
    rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]] for line in text.splitlines()
            if line.startswith("|") and line.split("|")[1].strip() in ("full", "daily", "nothing new")}
    assert rows["full"] == ["30.0 / 60.0", "90.0 / 180.0", "3.00", "3.00"]
    assert rows["daily"] == ["20.0 / 40.0", "24.0 / 48.0", "1.20", "1.20"]  # the shortest history first, whatever the order given
    assert rows["nothing new"][-2:] == ["1.00", "1.00"]
    assert "30 days 10,000" in text and "180 days 60,000" in text


def test_history_needs_two_lengths():
    with pytest.raises(ValueError, match="--history needs two or more day counts"):
        daily.run(history="30")
