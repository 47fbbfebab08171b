"""Experiments end to end on the sandbox world at its default scale (1,000 people, the scale at which
its designed effects are detectable): one refresh feeds the module.

The per-arm counts must equal the world's ground truth exactly for every kind of experiment; every
statistic must equal statsmodels / scipy computed here on the same counts; the designed effects must
come out significant and the A/A test must not. A second, short run stops the sandbox clock inside a
variate campaign's test phase.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from connectors.sandbox import truth_experiments
from connectors.sandbox.server import SandboxServer
from connectors.sandbox.truth import identity_graph
from connectors.sandbox.world import EXPERIMENTS, World, WorldConfig
from dagster_project.cli import main, run_refresh
from tests.conftest import point_pipeline_at

pytestmark = pytest.mark.slow

NEW_MARTS = {"dim_experiment", "fct_experiment_arms", "fct_experiment_results", "fct_person_value_monthly"}
PROPORTIONS = ("opened", "clicked", "web_engaged", "key_event")
TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def default_world() -> World:
    return World(WorldConfig(seed=7, people=1000))


@pytest.fixture(scope="module")
def pipeline(default_world, tmp_path_factory, dbt_manifest):
    root = tmp_path_factory.mktemp("experiments")
    with SandboxServer(default_world) as sandbox, pytest.MonkeyPatch.context() as mp:
        point_pipeline_at(mp, sandbox, root)
        report = run_refresh(default_world.start, default_world.end)
        assert report.success, report.failures
        yield {"sandbox": sandbox, "warehouse": root / "engagement.duckdb", "serving": root / "serving.duckdb"}


def dicts(path: Path, sql: str) -> list[dict]:
    with duckdb.connect(str(path), read_only=True) as con:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def experiment_ids(world: World) -> dict[str, str]:
    sends = world.experiment_sends
    subject_variate = next(s for s in world.sends if s.variate and s.id not in sends.values())
    return {
        "ab_effect": f"mailchimp:{sends['ab_effect']}",
        "ab_a_a": f"mailchimp:{sends['ab_a_a']}",
        "variate": f"mailchimp:{sends['variate_content']}",
        "subject_variate": f"mailchimp:{subject_variate.id}",
        "holdout": f"holdout:{EXPERIMENTS.holdout.campaign_key}",
        "web": f"ga4:{EXPERIMENTS.web.experiment_id}",
    }


def expected_arm(experiment: truth_experiments.ExperimentTruth, arm: truth_experiments.ArmTruth) -> dict:
    """What fct_experiment_arms can know of an arm: a variate's combinations are never on the wire per
    recipient, so only clicks (by utm_content, where combinations have their own) are measurable."""
    variate = experiment.kind == "email_ab" and arm.opened is None
    clicked = arm.clicked if experiment.clicks_observable_per_arm else None
    return {
        "units": arm.units, "units_excluded": arm.units_excluded,
        "opened_successes": arm.opened, "clicked_successes": clicked,
        "web_engaged_successes": None if variate else arm.web_engaged,
        "key_event_successes": None if variate else arm.key_event,
        "revenue_sum": None if variate else pytest.approx(arm.revenue_sum, abs=1e-6),
        "revenue_sum_sq": None if variate else pytest.approx(arm.revenue_sum_sq, abs=1e-6),
    }


def test_arm_counts_equal_the_world_truth_for_every_kind_of_experiment(pipeline, default_world):
    truth = truth_experiments.experiments(default_world, pipeline["sandbox"].now)
    got = {(r.pop("experiment_id"), r.pop("arm")): r for r in dicts(pipeline["serving"], "select * from marts.fct_experiment_arms")}
    expected = {(eid, name): expected_arm(e, arm) for eid, e in truth.items() for name, arm in e.arms.items()}
    assert set(got) == set(expected)
    for key, figures in expected.items():
        assert {k: got[key][k] for k in figures} == figures, key
        assert got[key]["is_control"] == (key[1] == truth[key[0]].control_arm)
    designs = {r["experiment_id"]: r["design"] for r in dicts(pipeline["serving"], "select * from marts.dim_experiment")}
    assert set(designs.values()) == {"absplit", "variate", "holdout", "web_experience"}
    ids = experiment_ids(default_world)
    # the cases the design calls out: persons in two arms are excluded from both, never counted twice
    assert got[(ids["holdout"], "holdout")]["units_excluded"] == EXPERIMENTS.holdout.sent_anyway + EXPERIMENTS.holdout.duplicate_contacts
    assert got[(ids["web"], "express")]["units_excluded"] == EXPERIMENTS.web.both_variants
    # a subject-line variate's combinations share their links: no metric, but still arms
    assert {k[1] for k, v in got.items() if k[0] == ids["subject_variate"] and v["clicked_successes"] is None} == {
        c.id for c in next(s for s in default_world.sends if f"mailchimp:{s.id}" == ids["subject_variate"]).variate_design.combinations}


def test_discovered_experiments_carry_hypotheses_and_the_seed_overrides_the_web_experiment(pipeline, default_world):
    ids = experiment_ids(default_world)
    experiments = {r["experiment_id"]: r for r in dicts(pipeline["serving"], "select * from marts.dim_experiment")}
    assert set(experiments) == set(ids.values())
    ab = experiments[ids["ab_effect"]]
    assert (ab["kind"], ab["campaign_key"], ab["control_arm"], ab["primary_metric"], ab["alpha"], ab["source"]) == (
        "email_ab", "product_launch", "a", "clicked", 0.05, "mailchimp")
    assert json.loads(ab["planned_split"]) == {"a": 0.5, "b": 0.5}
    assert "version b" in ab["hypothesis"] and ab["null_hypothesis"].endswith("any difference is chance")
    holdout = experiments[ids["holdout"]]
    assert (holdout["kind"], holdout["control_arm"], holdout["planned_split"], holdout["source"]) == (
        "holdout", "holdout", None, "hubspot")
    web = experiments[ids["web"]]
    assert (web["primary_metric"], web["control_arm"], web["source"]) == ("key_event", "control", "seed")
    assert web["started_at"] < web["ended_at"]


def welch(arm_n, arm_sum, arm_sq, control_n, control_sum, control_sq, alpha):
    arm_var = (arm_sq - arm_sum**2 / arm_n) / (arm_n - 1)
    control_var = (control_sq - control_sum**2 / control_n) / (control_n - 1)
    t, p = scipy_stats.ttest_ind_from_stats(arm_sum / arm_n, math.sqrt(arm_var), arm_n,
                                            control_sum / control_n, math.sqrt(control_var), control_n, equal_var=False)
    se2 = arm_var / arm_n, control_var / control_n
    df = sum(se2) ** 2 / (se2[0] ** 2 / (arm_n - 1) + se2[1] ** 2 / (control_n - 1))
    margin = scipy_stats.t.ppf(1 - alpha / 2, df) * math.sqrt(sum(se2))
    difference = arm_sum / arm_n - control_sum / control_n
    pooled_sd = math.sqrt(((arm_n - 1) * arm_var + (control_n - 1) * control_var) / (arm_n + control_n - 2))
    d = TTestIndPower().solve_power(effect_size=None, nobs1=control_n, alpha=alpha, power=0.8, ratio=arm_n / control_n)
    return float(t), float(p), difference - margin, difference + margin, float(d) * pooled_sd


def expected_statistics(arms: dict, experiment: dict, metric: str, arm_name: str) -> dict:
    arm, control, alpha = arms[arm_name], arms[experiment["control_arm"]], experiment["alpha"]
    n, c = arm["units"], control["units"]
    if metric in PROPORTIONS:
        x, y = arm[f"{metric}_successes"], control[f"{metric}_successes"]
        pooled = (x + y) / (n + c)
        z, p = proportions_ztest([x, y], [n, c]) if 0 < pooled < 1 else (None, None)
        low, high = confint_proportions_2indep(x, n, y, c, method="wald", compare="diff", alpha=alpha)
        h = NormalIndPower().solve_power(effect_size=None, nobs1=c, alpha=alpha, power=0.8, ratio=n / c)
        angle = math.asin(math.sqrt(y / c)) + h / 2
        mde = math.sin(angle) ** 2 - y / c if angle <= math.pi / 2 else None
        values = {"arm_value": x, "control_value": y}
    else:
        x, y = arm["revenue_sum"], control["revenue_sum"]
        z, p, low, high, mde = welch(n, x, arm["revenue_sum_sq"], c, y, control["revenue_sum_sq"], alpha)
        values = {"arm_value": x, "control_value": y}
    return {"arm_units": n, "control_units": c, **values, "arm_rate": x / n, "control_rate": y / c,
            "absolute_lift": x / n - y / c, "relative_lift": (x / n - y / c) / (y / c) if y else None,
            "test_statistic": None if z is None else float(z), "p_value": None if p is None else float(p),
            "ci_low": float(low), "ci_high": float(high), "mde_at_80_power": mde}


def close(a, b) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE))


def test_every_statistic_equals_statsmodels_and_scipy_on_the_same_counts(pipeline):
    serving = pipeline["serving"]
    experiments = {r["experiment_id"]: r for r in dicts(serving, "select * from marts.dim_experiment")}
    arms = defaultdict(dict)
    for r in dicts(serving, "select * from marts.fct_experiment_arms"):
        arms[r["experiment_id"]][r["arm"]] = r
    results = dicts(serving, "select * from marts.fct_experiment_results order by experiment_id, arm, metric")
    assert len(results) >= 15
    by_experiment = defaultdict(list)
    for row in results:
        by_experiment[row["experiment_id"]].append(row)
    for experiment_id, rows in by_experiment.items():
        experiment = experiments[experiment_id]
        expected = [expected_statistics(arms[experiment_id], experiment, r["metric"], r["arm"]) for r in rows]
        defined = [i for i, e in enumerate(expected) if e["p_value"] is not None]
        adjusted = [None] * len(rows)
        if defined:
            corrected = multipletests([expected[i]["p_value"] for i in defined], alpha=experiment["alpha"], method="holm")[1]
            for i, value in zip(defined, corrected, strict=True):
                adjusted[i] = float(value)
        split = json.loads(experiment["planned_split"]) if experiment["planned_split"] else None
        srm = None
        if split:
            observed = [arms[experiment_id][a]["units"] for a in split]
            shares = [split[a] / sum(split.values()) for a in split]
            srm = float(scipy_stats.chisquare(observed, [sum(observed) * s for s in shares]).pvalue)
        for row, want, p_adjusted in zip(rows, expected, adjusted, strict=True):
            where = (experiment_id, row["arm"], row["metric"])
            for column, value in {**want, "p_value_adjusted": p_adjusted, "srm_p_value": srm}.items():
                assert close(row[column], value), (where, column, row[column], value)
            assert row["is_primary"] == (row["metric"] == experiment["primary_metric"])
            if srm is not None and srm < 0.001:
                decision = "sample_ratio_mismatch"
            elif min(want["arm_units"], want["control_units"]) < experiment["min_units_per_arm"]:
                decision = "insufficient_sample"
            elif p_adjusted is not None and p_adjusted < experiment["alpha"] and want["absolute_lift"]:
                decision = "significant_positive" if want["absolute_lift"] > 0 else "significant_negative"
            else:
                decision = "inconclusive"
            assert row["decision"] == decision, where


def test_real_effects_come_out_significant_and_the_a_a_test_does_not(pipeline, default_world):
    ids = experiment_ids(default_world)
    results = {(r["experiment_id"], r["arm"], r["metric"]): r["decision"]
               for r in dicts(pipeline["serving"], "select * from marts.fct_experiment_results")}
    assert results[(ids["ab_effect"], "b", "clicked")] == "significant_positive"
    assert results[(ids["ab_effect"], "b", "opened")] == "significant_positive"
    for metric in ("web_engaged", "key_event", "revenue"):
        assert results[(ids["holdout"], "treated", metric)] == "significant_positive", metric
    a_a = {metric: decision for (eid, _, metric), decision in results.items() if eid == ids["ab_a_a"]}
    assert set(a_a) == {"opened", "clicked", "web_engaged", "key_event", "revenue"}
    assert not any(decision.startswith("significant") for decision in a_a.values()), a_a
    assert results[(ids["web"], "express", "key_event")] == "significant_positive"
    # variate: clicks per combination only, never opens
    assert {metric for (eid, _, metric) in results if eid == ids["variate"]} == {"clicked"}
    assert not any(eid == ids["subject_variate"] for eid, _, _ in results)


def test_person_value_per_month_equals_the_world_and_persons_are_salted(pipeline, default_world):
    now = pipeline["sandbox"].now
    graph = identity_graph(default_world, now)
    months: dict = defaultdict(lambda: [0, 0, 0.0])
    for s in default_world.sessions:
        if s.site_user_id and s.date <= now.date():
            figures = months[(graph.find(("site", s.site_user_id)), s.date.replace(day=1))]
            figures[0] += s.key_events
            figures[1] += s.transactions
            figures[2] += s.purchase_revenue
    # GA4 leaves out rows whose figures are all zero
    expected = sorted((month, k, t, round(r, 2)) for (_, month), (k, t, r) in months.items() if k or t or r)
    rows = dicts(pipeline["serving"], "select * from marts.fct_person_value_monthly")
    assert sorted((r["month"], r["key_events"], r["transactions"], round(r["revenue"], 2)) for r in rows) == expected
    assert all(r["first_seen_month"] <= r["month"] for r in rows)
    salted = {r["person_id"] for r in rows}
    assert salted <= {r["person_id"] for r in dicts(pipeline["serving"], "select person_id from marts.dim_person")}
    assert not salted & {r["person_id"] for r in dicts(pipeline["warehouse"], "select person_id from marts.dim_person")}


def test_the_snapshot_carries_the_experiment_marts_and_the_cli_prints_them(pipeline, monkeypatch, capsys):
    tables = {r["table_name"] for r in dicts(pipeline["serving"], "select table_name from information_schema.tables")}
    assert NEW_MARTS <= tables
    monkeypatch.setenv("ENGAGEMENT_SERVING", str(pipeline["serving"]))
    assert main(["experiments"]) == 0
    from_snapshot = capsys.readouterr().out
    lines = from_snapshot.splitlines()
    assert lines[0].split() == ["experiment", "arm", "metric", "lift", "[CI]", "p", "(Holm)", "decision"]
    count = dicts(pipeline["serving"], "select count(*) as n from marts.fct_experiment_results")[0]["n"]
    assert len(lines) == count + 3  # header, rule, rows, footnote
    assert main(["experiments", "--warehouse", str(pipeline["warehouse"])]) == 0
    assert capsys.readouterr().out == from_snapshot
    assert main(["experiments", "--warehouse", str(pipeline["warehouse"].with_name("missing.duckdb"))]) == 2


def test_a_variate_campaign_in_its_test_phase_gives_arms_without_error(world, tmp_path, dbt_manifest):
    """The clock stops between a variate campaign's test send and its winner send."""
    send = next(s for s in world.sends if s.variate_design and s.variate_design.remainder)
    with SandboxServer(world) as sandbox, pytest.MonkeyPatch.context() as mp:
        sandbox.now = send.send_time + timedelta(minutes=send.variate_design.wait_minutes // 2)
        point_pipeline_at(mp, sandbox, tmp_path)
        report = run_refresh(world.start, sandbox.now.date() + timedelta(days=1))
        assert report.success, report.failures
        truth = truth_experiments.experiments(world, sandbox.now)[f"mailchimp:{send.id}"]
    arms = {r["arm"]: r for r in dicts(tmp_path / "serving.duckdb",
                                       f"select * from marts.fct_experiment_arms where experiment_id = 'mailchimp:{send.id}'")}
    assert {a: r["units"] for a, r in arms.items()} == {a: t.units for a, t in truth.arms.items()}
    assert all(r["opened_successes"] is None and r["clicked_successes"] is None for r in arms.values())
    assert arms[truth.control_arm]["is_control"]
