"""The semantic layer on the sandbox world: every metric MetricFlow defines, asked by name through
the serving snapshot, equals the mart column it describes, and ratios regroup as ratios of sums.

One refresh of the default world feeds the module; MetricFlow reads the published snapshot.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import duckdb
import pytest

from connectors.sandbox.server import SandboxServer
from dagster_project.cli import main
from dagster_project.metrics import load_semantic_manifest, query, records, serving_engine
from tests.conftest import copy_refresh, point_pipeline_at

pytestmark = pytest.mark.slow

# Metrics that are no mart column of their own: the mart expression they equal at the mart's grain.
MART_EXPRESSIONS = {
    "interactions_with_known_impressions": "case when impressions is not null then total_interactions end",
    "email_sends": "1",
    "subscriber_periods": "1",
    "fully_engaged_subscribers": "case when engagement_tier = 'fully_engaged' then 1 else 0 end",
    "partially_engaged_subscribers": "case when engagement_tier = 'partially_engaged' then 1 else 0 end",
    "dormant_subscribers": "case when engagement_tier = 'dormant' then 1 else 0 end",
    **{f"experiment_{m}_units": f"case when {m}_successes is not null then units end"
       for m in ("opened", "clicked", "web_engaged", "key_event")},
    "experiment_revenue_units": "case when revenue_sum is not null then units end",
}


@pytest.fixture(scope="module")
def semantic(world, refreshed_world, tmp_path_factory):
    """A copy of one refresh of the world's whole window (the session's shared one: a test here opens
    the warehouse as a writer), and a MetricFlow engine over its serving snapshot."""
    root = copy_refresh(refreshed_world, tmp_path_factory.mktemp("semantic"))
    with SandboxServer(world) as sandbox, pytest.MonkeyPatch.context() as mp:
        point_pipeline_at(mp, sandbox, root)
        with serving_engine() as engine:
            yield {"engine": engine, "serving": root / "serving.duckdb", "warehouse": root / "engagement.duckdb",
                   "manifest": load_semantic_manifest()}


def mart_rows(serving, sql: str) -> list[dict]:
    with duckdb.connect(str(serving), read_only=True) as con:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def key_value(value):
    return value.date() if isinstance(value, dt.datetime) else value


def metric_model(manifest: dict) -> dict[str, tuple[dict, dict]]:
    """metric name -> (its semantic model, its config.meta)."""
    models = {ms["name"]: m for m in manifest["semantic_models"] for ms in m["measures"]}
    metrics = {m["name"]: m for m in manifest["metrics"]}

    def model_of(metric):
        if metric["type"] == "simple":
            return models[metric["type_params"]["measure"]["name"]]
        return model_of(metrics[metric["type_params"]["numerator"]["name"]])

    return {name: (model_of(m), (m.get("config") or {}).get("meta") or {}) for name, m in metrics.items()}


def test_every_metric_is_checked_against_a_mart(semantic):
    unchecked = {name for name, (_, meta) in metric_model(semantic["manifest"]).items()
                 if not meta.get("mart_column") and not meta.get("results_metric") and name not in MART_EXPRESSIONS}
    assert unchecked == set()
    assert len(semantic["manifest"]["metrics"]) == 57


def test_each_metric_grouped_by_its_mart_grain_equals_the_mart_column(semantic):
    by_model = defaultdict(list)
    for name, (model, meta) in metric_model(semantic["manifest"]).items():
        if not meta.get("results_metric"):
            by_model[model["name"]].append((name, meta.get("mart_column") or MART_EXPRESSIONS[name]))
    checked = {}
    for model in semantic["manifest"]["semantic_models"]:
        metrics = by_model.pop(model["name"], [])
        if not metrics:
            continue
        grain = model["config"]["meta"]["mart_grain_group_by"]  # group-by -> mart column
        got = records(query(semantic["engine"], [m for m, _ in metrics], list(grain)))
        got = {tuple(key_value(r[g]) for g in grain): {m: r[m] for m, _ in metrics} for r in got}
        mart = model["node_relation"]["alias"]
        expected = mart_rows(semantic["serving"], f"select {', '.join(grain.values())}, "
                                                  f"{', '.join(f'{expr} as {m}' for m, expr in metrics)} from marts.{mart}")
        expected = {tuple(r[c] for c in grain.values()): {m: r[m] for m, _ in metrics} for r in expected}
        assert got == expected, mart
        checked[mart] = len(expected)
    assert by_model == {}
    assert checked == {"fct_web_engagement_daily": 82, "fct_social_engagement_daily": 199, "fct_email_campaign_engagement": 18,
                       "fct_email_subscriber_cadence": 1264, "fct_campaign_engaged_users": 24, "fct_experiment_arms": 13}


def test_experiment_rates_per_arm_equal_the_rates_the_statistics_used(semantic):
    rates = {name: meta["results_metric"] for name, (_, meta) in metric_model(semantic["manifest"]).items()
             if meta.get("results_metric")}
    got = {(r["experiment"], r["experiment_arm__arm"]): r
           for r in records(query(semantic["engine"], list(rates), ["experiment", "experiment_arm__arm"]))}
    results = mart_rows(semantic["serving"], """select r.experiment_id, r.arm, e.control_arm, r.metric, r.arm_rate, r.control_rate
                                                from marts.fct_experiment_results as r
                                                join marts.dim_experiment as e using (experiment_id)""")
    by_metric = {metric: name for name, metric in rates.items()}
    compared = 0
    for r in results:
        if r["metric"] is None:
            continue
        metric = by_metric[r["metric"]]
        assert got[(r["experiment_id"], r["arm"])][metric] == r["arm_rate"]
        assert got[(r["experiment_id"], r["control_arm"])][metric] == r["control_rate"]
        compared += 1
    assert compared == 18


def test_engagement_rate_per_campaign_over_all_days_is_a_ratio_of_sums_not_an_average_of_daily_rates(semantic):
    got = {r["campaign"]: r["engagement_rate"]
           for r in records(query(semantic["engine"], ["engagement_rate"], ["campaign"]))}
    daily = mart_rows(semantic["serving"], "select campaign_key, sessions, engaged_sessions, engagement_rate "
                                           "from marts.fct_web_engagement_daily")
    engaged, sessions, rates = defaultdict(int), defaultdict(int), defaultdict(list)
    for r in daily:
        engaged[r["campaign_key"]] += r["engaged_sessions"]
        sessions[r["campaign_key"]] += r["sessions"]
        rates[r["campaign_key"]].append(r["engagement_rate"])
    assert got == {key: engaged[key] / sessions[key] for key in sessions}
    assert len(got) == 7
    averages = {key: sum(r) / len(r) for key, r in rates.items()}
    assert all(got[key] != pytest.approx(averages[key], abs=1e-9) for key in got)  # the naive average is wrong


def test_interaction_rate_per_platform_divides_only_interactions_whose_impressions_are_known(semantic):
    got = {r["social_post_day__platform"]: r["interaction_rate"]
           for r in records(query(semantic["engine"], ["interaction_rate"], ["social_post_day__platform"]))}
    expected = {p: rate for p, rate in (
        (r["platform"], r["rate"]) for r in mart_rows(semantic["serving"], """
            select platform, cast(sum(case when impressions is not null then total_interactions end) as double)
                             / sum(impressions) as rate
            from marts.fct_social_engagement_daily group by platform"""))}
    assert got == expected
    assert set(got) == {"x", "facebook", "linkedin"}


def test_metrics_query_command_prints_the_metric_by_campaign_and_never_locks_the_warehouse(semantic, capsys):
    # the engine is open (module fixture): the warehouse is still free for a writer
    duckdb.connect(str(semantic["warehouse"])).close()
    sessions = {r["campaign_key"]: r["sessions"] for r in mart_rows(semantic["serving"], """
        select campaign_key, sum(sessions) as sessions from marts.fct_web_engagement_daily group by campaign_key""")}
    assert main(["metrics", "query", "--metrics", "sessions", "--group-by", "campaign", "--order", "campaign"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split() for line in lines[2:]] == [[key, str(sessions[key])] for key in sorted(sessions)]


def test_metrics_query_names_an_unknown_metric_on_one_line(semantic, capsys):
    assert main(["metrics", "query", "--metrics", "engagement_rat", "--group-by", "campaign"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "engagement_rat" in err and "engagement_rate" in err
