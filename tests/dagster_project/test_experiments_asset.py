"""The experiment statistics asset: marts in, one atomic results table out, blocking checks."""

from __future__ import annotations

import dagster as dg
import duckdb
import pytest

from dagster_project.defs import experiments
from dagster_project.defs.experiments import (
    RESULTS_TABLE,
    check_results,
    fct_experiment_results,
    long_arm_rows,
    read_marts,
    write_results,
)
from dagster_project.defs.resources import EngagementSettings
from dagster_project.lib.experiment_stats import RESULT_COLUMNS

NO_METRICS = {"opened_successes": None, "clicked_successes": None, "web_engaged_successes": None,
              "key_event_successes": None, "revenue_sum": None, "revenue_sum_sq": None}


def arm(experiment_id: str, name: str, units: int, excluded: int = 0, **metrics) -> dict:
    return {"experiment_id": experiment_id, "arm": name, "is_control": False, "units": units,
            "units_excluded": excluded, **NO_METRICS, **metrics}


def test_wide_arms_become_long_rows_and_an_arm_without_metrics_is_still_declared():
    rows = long_arm_rows([
        arm("mailchimp:c1", "a", 100, 2, opened_successes=30, clicked_successes=10, revenue_sum=50.0, revenue_sum_sq=900.0),
        arm("mailchimp:v2", "k1", 40),
    ])
    assert rows == [
        {"experiment_id": "mailchimp:c1", "arm": "a", "units": 100, "units_excluded": 2, "metric": "opened",
         "kind": "proportion", "value": 30.0, "sum_sq": 30.0},
        {"experiment_id": "mailchimp:c1", "arm": "a", "units": 100, "units_excluded": 2, "metric": "clicked",
         "kind": "proportion", "value": 10.0, "sum_sq": 10.0},
        {"experiment_id": "mailchimp:c1", "arm": "a", "units": 100, "units_excluded": 2, "metric": "revenue",
         "kind": "continuous", "value": 50.0, "sum_sq": 900.0},
        {"experiment_id": "mailchimp:v2", "arm": "k1", "units": 40, "units_excluded": 0, "metric": None,
         "kind": None, "value": None, "sum_sq": None},
    ]


def make_marts(path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute("""create table marts.fct_experiment_arms as select * from (values
            ('holdout:k', 'holdout', true, 60::bigint, 1::bigint, null::bigint, null::bigint, 12::bigint, 3::bigint, 40.0, 1600.0),
            ('holdout:k', 'treated', false, 140::bigint, 1::bigint, null::bigint, null::bigint, 60::bigint, 20::bigint, 900.0, 60000.0)
            ) as t(experiment_id, arm, is_control, units, units_excluded, opened_successes, clicked_successes,
                   web_engaged_successes, key_event_successes, revenue_sum, revenue_sum_sq)""")
        con.execute("""create table marts.dim_experiment as select * from (values
            ('holdout:k', 0.05, 'holdout', null::varchar, 'web_engaged', 30)
            ) as t(experiment_id, alpha, control_arm, planned_split, primary_metric, min_units_per_arm)""")


def test_results_replace_the_table_and_pass_their_checks(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    make_marts(warehouse)
    with duckdb.connect(str(warehouse)) as con:
        arms, dims, min_units = read_marts(con)
        assert min_units == 30 and [d["experiment_id"] for d in dims] == ["holdout:k"]
        from dagster_project.lib.experiment_stats import analyse_all

        results = analyse_all(arms, dims, min_units)
        assert [(r["arm"], r["metric"]) for r in results] == [("treated", "key_event"), ("treated", "revenue"),
                                                              ("treated", "web_engaged")]
        for _ in range(2):  # a re-run replaces, never appends
            write_results(con, results)
        assert con.execute(f"select count(*) from {RESULTS_TABLE}").fetchone() == (3,)
        assert [c[0] for c in con.execute(f"describe {RESULTS_TABLE}").fetchall()] == list(RESULT_COLUMNS)
        assert all(check.passed for check in check_results(con))


class FailsAfterReplacing:
    """A connection that dies right after replacing the table, before the commit."""

    def __init__(self, con):
        self.con = con

    def __getattr__(self, name):
        return getattr(self.con, name)

    def execute(self, sql, *args):
        result = self.con.execute(sql, *args)
        if sql.startswith("create or replace table"):
            raise RuntimeError("killed mid-write")
        return result


def test_a_failed_write_leaves_the_previous_results_whole(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    make_marts(warehouse)
    with duckdb.connect(str(warehouse)) as con:
        old = [{c: None for c in RESULT_COLUMNS} | {"experiment_id": "old", "arm": "b", "metric": "clicked",
                                                    "decision": "inconclusive"}]
        write_results(con, old)
        new = [dict(old[0], experiment_id=f"new{i}") for i in range(5)]
        with pytest.raises(RuntimeError, match="killed"):
            write_results(FailsAfterReplacing(con), new)
        assert con.execute(f"select experiment_id from {RESULTS_TABLE}").fetchall() == [("old",)]


def test_checks_catch_a_bad_decision_a_lowered_p_value_and_a_duplicate(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        row = {c: None for c in RESULT_COLUMNS} | {"experiment_id": "e", "arm": "b", "metric": "clicked",
                                                   "p_value": 0.04, "p_value_adjusted": 0.02, "decision": "winner"}
        write_results(con, [row, row])
        assert {c.check_name: c.passed for c in check_results(con)} == {
            "decision_in_allowed_set": False, "adjusted_p_value_not_below_p_value": False,
            "one_row_per_experiment_arm_metric": False}


@pytest.fixture
def settings_env(monkeypatch, tmp_path):
    monkeypatch.setenv("ENGAGEMENT_WAREHOUSE", str(tmp_path / "w.duckdb"))
    monkeypatch.setenv("ENGAGEMENT_SERVING", str(tmp_path / "serving.duckdb"))
    monkeypatch.setenv("ENGAGEMENT_SOURCES", "")
    monkeypatch.setenv("ENGAGEMENT_PII_SALT", "test-salt")
    make_marts(tmp_path / "w.duckdb")
    return tmp_path


def test_the_asset_materializes_with_its_checks(settings_env):
    result = dg.materialize([fct_experiment_results], resources={"engagement": EngagementSettings()})
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 3 and all(c.passed for c in checks)
    metadata = result.asset_materializations_for_node("marts__fct_experiment_results")[0].metadata
    assert metadata["rows"].value == 3 and metadata["experiments"].value == 1


def test_a_failing_check_blocks_publish(settings_env, monkeypatch, dbt_manifest):
    from dagster_project.defs.publish import publish

    def bogus(*args):
        return [{c: None for c in RESULT_COLUMNS} | {"experiment_id": "holdout:k", "arm": "treated",
                                                     "metric": "web_engaged", "decision": "winner"}]

    monkeypatch.setattr(experiments, "analyse_all", bogus)
    result = dg.materialize([fct_experiment_results, publish], resources={"engagement": EngagementSettings()},
                            raise_on_error=False)
    assert not result.success
    assert {c.check_name: c.passed for c in result.get_asset_check_evaluations()}["decision_in_allowed_set"] is False
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert dg.AssetKey("publish") not in materialized
    assert not (settings_env / "serving.duckdb").exists()


def test_publish_depends_on_the_results_and_the_results_on_the_arm_counts(dbt_manifest):
    from dagster_project.definitions import defs

    graph = defs.resolve_asset_graph()
    assert experiments.RESULTS_KEY in graph.get(dg.AssetKey("publish")).parent_keys
    assert graph.get(experiments.RESULTS_KEY).parent_keys == {experiments.ARMS_KEY, experiments.EXPERIMENTS_KEY}
