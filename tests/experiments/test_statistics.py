"""Statistics of experiments (dagster_project.lib.experiment_stats) against statsmodels and scipy.

Each expected number is computed here, independently, from the same counts (or from the raw
per-unit data the counts were summed from); simulations use numpy's seeded generator so every
run draws the same experiments.
"""

from __future__ import annotations

import gc

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats
from statsmodels.stats import multitest
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_effectsize, proportions_ztest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from dagster_project.lib import experiment_stats
from dagster_project.lib.experiment_stats import (
    RESULT_COLUMNS,
    RESULT_SCHEMA,
    analyse_all,
    analyse_experiment,
    format_results_table,
)

TOLERANCE = 1e-9
CONFIDENCE = 0.999  # of the binomial intervals the simulated rejection rates must fall in


def close(expected: float) -> object:
    return pytest.approx(expected, rel=TOLERANCE, abs=TOLERANCE)


@pytest.fixture
def cheap_gc():
    # statsmodels' Holm calls gc.collect() on every call: the product's own freeze keeps that
    # collection small here too, so hundreds of experiments stay fast.
    with experiment_stats.existing_objects_frozen():
        yield


def arm(name: str, units: int, excluded: int = 0) -> dict:
    return {"arm": name, "units": units, "units_excluded": excluded}


def proportion(arm_name: str, successes: int, metric: str = "clicked") -> dict:
    return {"arm": arm_name, "metric": metric, "kind": "proportion", "value": successes, "sum_sq": None}


def revenue(arm_name: str, values: np.ndarray) -> dict:
    return {"arm": arm_name, "metric": "revenue", "kind": "continuous", "value": float(values.sum()), "sum_sq": float((values**2).sum())}


def row_of(rows: list[dict], arm_name: str, metric: str) -> dict:
    (row,) = [r for r in rows if r["arm"] == arm_name and r["metric"] == metric]
    return row


# ---------------------------------------------------------------------------------------------
# 1. Every statistic equals statsmodels / scipy on the same counts
# ---------------------------------------------------------------------------------------------


def simulated_revenue(rng: np.random.Generator, units: int, buyer_share: float, scale: float) -> np.ndarray:
    """Per-unit revenue: most units buy nothing, buyers spend a skewed amount."""
    return np.where(rng.random(units) < buyer_share, rng.lognormal(np.log(scale), 0.8, units), 0.0)


def expected_rows(experiment: dict, revenue_by_arm: dict[str, np.ndarray], min_units_per_arm: int = 30) -> list[dict]:
    """The result rows built independently from statsmodels/scipy calls (and raw data for revenue)."""
    alpha, control = experiment["alpha"], experiment["control_arm"]
    units = {a["arm"]: a["units"] for a in experiment["arms"]}
    successes = {(m["arm"], m["metric"]): m["value"] for m in experiment["metrics"] if m["kind"] == "proportion"}
    metrics = list(dict.fromkeys(m["metric"] for m in experiment["metrics"]))
    split = experiment["planned_split"]
    if split is None:
        srm = None
    else:
        share_total = sum(split.values())
        observed = [units[a] for a in split]
        srm = stats.chisquare(observed, [sum(observed) * split[a] / share_total for a in split]).pvalue

    rows = []
    for arm_name in (a for a in units if a != control):
        n_arm, n_control = units[arm_name], units[control]
        for metric in metrics:
            if metric == "revenue":
                arm_values, control_values = revenue_by_arm[arm_name], revenue_by_arm[control]
                welch = stats.ttest_ind(arm_values, control_values, equal_var=False)
                statistic, p_value = welch.statistic, welch.pvalue
                ci_low, ci_high = CompareMeans(DescrStatsW(arm_values), DescrStatsW(control_values)).tconfint_diff(alpha=alpha, usevar="unequal")
                pooled_sd = np.sqrt(((n_arm - 1) * arm_values.var(ddof=1) + (n_control - 1) * control_values.var(ddof=1)) / (n_arm + n_control - 2))
                d = TTestIndPower().solve_power(effect_size=None, nobs1=n_control, alpha=alpha, power=0.8, ratio=n_arm / n_control)
                mde = d * pooled_sd
                arm_value, control_value = arm_values.sum(), control_values.sum()
            else:
                arm_value, control_value = successes[(arm_name, metric)], successes[(control, metric)]
                statistic, p_value = proportions_ztest([arm_value, control_value], [n_arm, n_control])
                ci_low, ci_high = confint_proportions_2indep(arm_value, n_arm, control_value, n_control, method="wald", compare="diff", alpha=alpha)
                mde = "checked through Cohen's h"
            control_rate, arm_rate = control_value / n_control, arm_value / n_arm
            rows.append({
                "experiment_id": experiment["experiment_id"], "arm": arm_name, "metric": metric,
                "is_primary": metric == experiment["primary_metric"],
                "control_units": n_control, "control_value": control_value, "arm_units": n_arm, "arm_value": arm_value,
                "control_rate": control_rate, "arm_rate": arm_rate,
                "absolute_lift": arm_rate - control_rate, "relative_lift": (arm_rate - control_rate) / control_rate,
                "ci_low": ci_low, "ci_high": ci_high, "test_statistic": statistic, "p_value": p_value,
                "srm_p_value": srm, "mde_at_80_power": mde,
            })
    adjusted = multipletests([r["p_value"] for r in rows], alpha=alpha, method="holm")[1]
    for r, p_adjusted in zip(rows, adjusted, strict=True):
        r["p_value_adjusted"] = p_adjusted
        if srm is not None and srm < 0.001:
            r["decision"] = "sample_ratio_mismatch"
        elif min(r["arm_units"], r["control_units"]) < min_units_per_arm:
            r["decision"] = "insufficient_sample"
        elif p_adjusted < alpha:
            r["decision"] = "significant_positive" if r["absolute_lift"] > 0 else "significant_negative"
        else:
            r["decision"] = "inconclusive"
    return rows


def assert_rows_match(actual: list[dict], expected: list[dict], alpha: float) -> None:
    assert [(r["arm"], r["metric"]) for r in actual] == [(r["arm"], r["metric"]) for r in expected]
    for got, want in zip(actual, expected, strict=True):
        assert tuple(got) == RESULT_COLUMNS
        for column in ("experiment_id", "arm", "metric", "is_primary", "control_units", "arm_units", "decision"):
            assert got[column] == want[column], column
        for column in ("control_value", "arm_value", "control_rate", "arm_rate", "absolute_lift", "relative_lift",
                       "ci_low", "ci_high", "test_statistic", "p_value", "p_value_adjusted", "srm_p_value"):
            if want[column] is None:
                assert got[column] is None, column
            else:
                assert got[column] == close(float(want[column])), (got["arm"], got["metric"], column)
        if got["metric"] == "revenue":
            assert got["mde_at_80_power"] == close(want["mde_at_80_power"])
        else:
            # MDE: the control rate plus the MDE sits exactly Cohen's h (statsmodels' own solution) above it.
            h = NormalIndPower().solve_power(effect_size=None, nobs1=got["control_units"], alpha=alpha, power=0.8,
                                             ratio=got["arm_units"] / got["control_units"])
            control_rate = got["control_rate"]
            assert proportion_effectsize(control_rate + got["mde_at_80_power"], control_rate) == close(h)
            assert got["mde_at_80_power"] > 0


@pytest.mark.parametrize("arm_names", [("a", "b"), ("holdout", "treated", "treated_2")], ids=["2 arms", "3 arms"])
def test_every_statistic_equals_statsmodels_and_scipy(arm_names, cheap_gc):
    rng = np.random.default_rng(11)
    control = arm_names[0]
    units = dict(zip(arm_names, (1210, 1185, 1240), strict=False))
    click_rates = dict(zip(arm_names, (0.081, 0.112, 0.090), strict=False))
    open_rates = dict(zip(arm_names, (0.30, 0.27, 0.31), strict=False))
    revenue_by_arm = {a: simulated_revenue(rng, units[a], 0.2, 40.0 + 5 * i) for i, a in enumerate(arm_names)}
    experiment = {
        "experiment_id": f"test:{len(arm_names)}",
        "alpha": 0.05 if len(arm_names) == 2 else 0.1,
        "control_arm": control,
        "planned_split": None if len(arm_names) == 2 else {a: 1.0 for a in arm_names},  # shares normalised
        "arms": [arm(a, units[a], excluded=3) for a in arm_names],
        "metrics": [m for a in arm_names for m in (
            proportion(a, int(round(units[a] * click_rates[a])), "clicked"),
            proportion(a, int(round(units[a] * open_rates[a])), "opened"),
            revenue(a, revenue_by_arm[a]),
        )],
        "primary_metric": "clicked",
    }
    rows = analyse_experiment(**experiment)
    expected = expected_rows(experiment, revenue_by_arm)
    assert len(rows) == 3 * (len(arm_names) - 1)
    assert_rows_match(rows, expected, experiment["alpha"])
    assert {r["decision"] for r in rows} >= {"significant_positive", "inconclusive"}  # the comparison covers both branches
    if experiment["planned_split"] is None:
        assert all(r["srm_p_value"] is None for r in rows)
    else:
        assert all(r["srm_p_value"] is not None for r in rows)


def test_welch_interval_is_the_welch_satterthwaite_interval():
    # The revenue interval is built from sufficient statistics; a very unequal pair of arms
    # (sizes and spreads) makes the Welch-Satterthwaite df far from n1 + n2 - 2.
    rng = np.random.default_rng(5)
    control_values, arm_values = rng.normal(10, 1, 40), rng.normal(11, 9, 400)
    rows = analyse_experiment("w", 0.05, "c", None, [arm("c", 40), arm("t", 400)],
                              [revenue("c", control_values), revenue("t", arm_values)], "revenue")
    ci = CompareMeans(DescrStatsW(arm_values), DescrStatsW(control_values)).tconfint_diff(alpha=0.05, usevar="unequal")
    assert (rows[0]["ci_low"], rows[0]["ci_high"]) == (close(ci[0]), close(ci[1]))
    assert rows[0]["test_statistic"] == close(stats.ttest_ind(arm_values, control_values, equal_var=False).statistic)


# ---------------------------------------------------------------------------------------------
# 2. Holm never lowers a p-value
# ---------------------------------------------------------------------------------------------


def test_holm_adjusted_p_values_are_never_below_the_raw_ones(cheap_gc):
    rng = np.random.default_rng(2024)
    compared = 0
    for index in range(400):
        arm_names = [f"arm{i}" for i in range(rng.integers(2, 6))]
        units = {a: int(rng.integers(0, 400)) for a in arm_names}
        metrics = []
        for a in arm_names:
            for metric in ("clicked", "opened", "web_engaged")[: rng.integers(1, 4)]:
                metrics.append(proportion(a, int(rng.binomial(units[a], rng.uniform(0, 0.3))), metric))
            values = simulated_revenue(rng, units[a], 0.3, 20.0)
            metrics.append(revenue(a, values))
        rows = analyse_experiment(f"random:{index}", 0.05, "arm0", None, [arm(a, units[a]) for a in arm_names], metrics, "clicked")
        for row in rows:
            assert (row["p_value"] is None) == (row["p_value_adjusted"] is None)
            if row["p_value"] is not None:
                assert row["p_value"] <= row["p_value_adjusted"] <= 1
                compared += 1
    assert compared > 1000


# ---------------------------------------------------------------------------------------------
# 3. Calibration: A/A experiments reject at alpha, known effects are found at the analytic power
# ---------------------------------------------------------------------------------------------

SIMULATIONS = 4000
UNITS_PER_ARM = 2000
ALPHA = 0.05


def rejection_rate(arm_successes: np.ndarray, control_successes: np.ndarray, decisions: tuple[str, ...]) -> float:
    """Share of simulated experiments whose result row (through analyse_experiment) has one of `decisions`."""
    hits = 0
    for arm_count, control_count in zip(arm_successes.tolist(), control_successes.tolist(), strict=True):
        (row,) = analyse_experiment("sim", ALPHA, "a", {"a": 0.5, "b": 0.5},
                                    [arm("a", UNITS_PER_ARM), arm("b", UNITS_PER_ARM)],
                                    [proportion("a", control_count), proportion("b", arm_count)], "clicked")
        hits += row["decision"] in decisions
    return hits / len(arm_successes)


def binomial_interval(rate: float, trials: int) -> tuple[float, float]:
    low, high = stats.binom.interval(CONFIDENCE, trials, rate)
    return low / trials, high / trials


def test_aa_experiments_reject_at_alpha():
    rng = np.random.default_rng(20240601)
    counts = rng.binomial(UNITS_PER_ARM, 0.1, size=(2, SIMULATIONS))
    rate = rejection_rate(counts[1], counts[0], ("significant_positive", "significant_negative"))
    low, high = binomial_interval(ALPHA, SIMULATIONS)
    print(f"\nA/A proportions (n={UNITS_PER_ARM}/arm, p=0.1, {SIMULATIONS} runs): rejection rate {rate:.4f}, "
          f"{CONFIDENCE:.1%} binomial interval around alpha={ALPHA} [{low:.4f}, {high:.4f}]")
    assert low <= rate <= high


def test_known_effect_is_detected_at_the_analytic_power():
    control_rate, arm_rate = 0.10, 0.12
    rng = np.random.default_rng(99)
    control_counts = rng.binomial(UNITS_PER_ARM, control_rate, SIMULATIONS)
    arm_counts = rng.binomial(UNITS_PER_ARM, arm_rate, SIMULATIONS)
    rate = rejection_rate(arm_counts, control_counts, ("significant_positive",))
    power = NormalIndPower().power(proportion_effectsize(arm_rate, control_rate), nobs1=UNITS_PER_ARM, alpha=ALPHA, ratio=1.0)
    low, high = binomial_interval(power, SIMULATIONS)
    print(f"\nKnown effect 0.10 -> 0.12 (n={UNITS_PER_ARM}/arm, {SIMULATIONS} runs): detection rate {rate:.4f}, "
          f"analytic power {power:.4f}, {CONFIDENCE:.1%} binomial interval [{low:.4f}, {high:.4f}]")
    assert low <= rate <= high


def test_aa_revenue_experiments_reject_at_alpha():
    # Welch on skewed, mostly-zero revenue, from sums and sums of squares drawn in one go.
    units, runs = 500, SIMULATIONS
    rng = np.random.default_rng(7)
    buys = rng.random((2, runs, units)) < 0.3
    values = np.where(buys, rng.lognormal(np.log(30.0), 0.8, (2, runs, units)), 0.0)
    sums, sums_sq = values.sum(axis=2), (values**2).sum(axis=2)
    hits = 0
    for i in range(runs):
        (row,) = analyse_experiment(
            "sim", ALPHA, "a", None, [arm("a", units), arm("b", units)],
            [{"arm": name, "metric": "revenue", "kind": "continuous", "value": sums[j, i], "sum_sq": sums_sq[j, i]}
             for j, name in enumerate(("a", "b"))],
            "revenue",
        )
        hits += row["decision"] in ("significant_positive", "significant_negative")
    rate = hits / runs
    low, high = binomial_interval(ALPHA, runs)
    print(f"\nA/A revenue (Welch, n={units}/arm, 30% buyers, lognormal, {runs} runs): rejection rate {rate:.4f}, "
          f"{CONFIDENCE:.1%} binomial interval around alpha={ALPHA} [{low:.4f}, {high:.4f}]")
    assert low <= rate <= high


# ---------------------------------------------------------------------------------------------
# 4. Sample-ratio mismatch
# ---------------------------------------------------------------------------------------------


def test_skewed_split_is_a_sample_ratio_mismatch():
    arms = [arm("a", 5400), arm("b", 4600)]
    # b clearly better, yet the split is broken: the decision says so instead of a lift.
    rows = analyse_experiment("srm", 0.05, "a", {"a": 0.5, "b": 0.5}, arms, [proportion("a", 540), proportion("b", 690)], "clicked")
    (row,) = rows
    assert row["srm_p_value"] == close(stats.chisquare([5400, 4600], [5000, 5000]).pvalue)
    assert row["srm_p_value"] < 0.001
    assert row["decision"] == "sample_ratio_mismatch"
    assert row["p_value"] is not None and row["p_value"] < 0.001  # still shown

    (balanced,) = analyse_experiment("srm", 0.05, "a", {"a": 0.5, "b": 0.5}, [arm("a", 5050), arm("b", 4950)],
                                     [proportion("a", 505), proportion("b", 690)], "clicked")
    assert balanced["decision"] == "significant_positive"


def test_units_in_an_arm_outside_the_planned_split_are_a_mismatch():
    arms = [arm("a", 500), arm("b", 500), arm("c", 40)]
    rows = analyse_experiment("srm", 0.05, "a", {"a": 0.5, "b": 0.5}, arms,
                              [proportion("a", 50), proportion("b", 60), proportion("c", 4)], "clicked")
    assert [r["srm_p_value"] for r in rows] == [0.0, 0.0]
    assert {r["decision"] for r in rows} == {"sample_ratio_mismatch"}


# ---------------------------------------------------------------------------------------------
# 5. Edge cases
# ---------------------------------------------------------------------------------------------


def test_arm_with_zero_units():
    arms = [arm("a", 1000), arm("b", 0)]
    metrics = [proportion("a", 100), proportion("b", 0),
               {"arm": "a", "metric": "revenue", "kind": "continuous", "value": 500.0, "sum_sq": 9000.0},
               {"arm": "b", "metric": "revenue", "kind": "continuous", "value": 0.0, "sum_sq": 0.0}]
    rows = analyse_experiment("zero", 0.05, "a", {"a": 0.5, "b": 0.5}, arms, metrics, "clicked")
    assert len(rows) == 2
    for row in rows:
        assert row["control_rate"] is not None
        for column in ("arm_rate", "absolute_lift", "relative_lift", "ci_low", "ci_high", "test_statistic",
                       "p_value", "p_value_adjusted", "mde_at_80_power"):
            assert row[column] is None, (row["metric"], column)
        assert row["srm_p_value"] == close(stats.chisquare([1000, 0], [500, 500]).pvalue)
        assert row["decision"] == "sample_ratio_mismatch"
    # without a planned split the small arm is what the decision reports
    rows = analyse_experiment("zero", 0.05, "a", None, arms, metrics, "clicked")
    assert {r["decision"] for r in rows} == {"insufficient_sample"}
    # and with no minimum, nothing can be concluded
    rows = analyse_experiment("zero", 0.05, "a", None, arms, metrics, "clicked", min_units_per_arm=0)
    assert {r["decision"] for r in rows} == {"inconclusive"}


def test_zero_successes_in_both_arms():
    (row,) = analyse_experiment("none", 0.05, "a", None, [arm("a", 800), arm("b", 820)],
                                [proportion("a", 0), proportion("b", 0)], "clicked")
    assert (row["control_rate"], row["arm_rate"], row["absolute_lift"]) == (0.0, 0.0, 0.0)
    assert row["relative_lift"] is None  # control rate 0
    assert row["test_statistic"] is None and row["p_value"] is None and row["p_value_adjusted"] is None
    # the Wald interval collapses to a point, exactly as statsmodels computes it
    assert (row["ci_low"], row["ci_high"]) == tuple(
        float(x) for x in confint_proportions_2indep(0, 820, 0, 800, method="wald", compare="diff"))
    h = NormalIndPower().solve_power(effect_size=None, nobs1=800, alpha=0.05, power=0.8, ratio=820 / 800)
    assert proportion_effectsize(row["mde_at_80_power"], 0.0) == close(h)
    assert row["decision"] == "inconclusive"


def test_all_successes_in_both_arms():
    (row,) = analyse_experiment("all", 0.05, "a", None, [arm("a", 100), arm("b", 100)],
                                [proportion("a", 100), proportion("b", 100)], "clicked")
    assert row["p_value"] is None and row["test_statistic"] is None
    assert row["mde_at_80_power"] is None  # no rate lies above 100%
    assert row["relative_lift"] == 0.0
    assert row["decision"] == "inconclusive"


def test_degenerate_revenue():
    one_unit = analyse_experiment("rev", 0.05, "a", None, [arm("a", 50), arm("b", 1)],
                                  [{"arm": "a", "metric": "revenue", "kind": "continuous", "value": 100.0, "sum_sq": 400.0},
                                   {"arm": "b", "metric": "revenue", "kind": "continuous", "value": 3.0, "sum_sq": 9.0}], "revenue")
    constant = analyse_experiment("rev", 0.05, "a", None, [arm("a", 50), arm("b", 40)],
                                  [{"arm": "a", "metric": "revenue", "kind": "continuous", "value": 100.0, "sum_sq": 200.0},
                                   {"arm": "b", "metric": "revenue", "kind": "continuous", "value": 80.0, "sum_sq": 160.0}], "revenue")
    no_squares = analyse_experiment("rev", 0.05, "a", None, [arm("a", 50), arm("b", 40)],
                                    [{"arm": "a", "metric": "revenue", "kind": "continuous", "value": 100.0, "sum_sq": None},
                                     {"arm": "b", "metric": "revenue", "kind": "continuous", "value": 90.0, "sum_sq": float("nan")}], "revenue")
    for (row,) in (one_unit, constant, no_squares):
        assert row["test_statistic"] is None and row["p_value"] is None
        assert row["ci_low"] is None and row["ci_high"] is None
        assert row["mde_at_80_power"] is None
        assert row["absolute_lift"] is not None and row["decision"] in ("inconclusive", "insufficient_sample")
    assert one_unit[0]["arm_rate"] == 3.0 and one_unit[0]["decision"] == "insufficient_sample"
    assert constant[0]["absolute_lift"] == 0.0


def test_single_arm_experiments_yield_no_rows():
    only_control = analyse_experiment("one", 0.05, "a", {"a": 1.0}, [arm("a", 1000)], [proportion("a", 100)], "clicked")
    control_missing = analyse_experiment("one", 0.05, "a", None, [arm("b", 1000), arm("c", 900)],
                                         [proportion("b", 100), proportion("c", 90)], "clicked")
    nothing = analyse_experiment("one", 0.05, "a", None, [], [], "clicked")
    assert only_control == control_missing == nothing == []


def test_metric_missing_for_the_control_yields_no_row():
    rows = analyse_experiment("variate", 0.05, "a", None, [arm("a", 100), arm("b", 100)],
                              [proportion("a", 10), proportion("b", 12), proportion("b", 40, "opened"),
                               {"arm": "a", "metric": "opened", "kind": "proportion", "value": None, "sum_sq": None}], "clicked")
    assert [(r["arm"], r["metric"]) for r in rows] == [("b", "clicked")]


def test_small_sample_is_insufficient_but_shows_its_statistics():
    (row,) = analyse_experiment("small", 0.05, "a", None, [arm("a", 20), arm("b", 20)],
                                [proportion("a", 2), proportion("b", 15)], "clicked")
    z, p = proportions_ztest([15, 2], [20, 20])
    assert row["test_statistic"] == close(z) and row["p_value"] == close(p) and row["p_value"] < 0.001
    assert row["ci_low"] is not None and row["mde_at_80_power"] is not None
    assert row["decision"] == "insufficient_sample"


def test_negative_effect_is_significant_negative():
    (row,) = analyse_experiment("neg", 0.05, "a", {"a": 0.5, "b": 0.5}, [arm("a", 2000), arm("b", 2000)],
                                [proportion("a", 300), proportion("b", 220)], "clicked")
    assert row["absolute_lift"] == close(220 / 2000 - 300 / 2000)
    assert row["relative_lift"] == close((220 - 300) / 300)
    assert row["ci_high"] < 0 and row["test_statistic"] < 0
    assert row["decision"] == "significant_negative"


def test_malformed_counts_raise():
    with pytest.raises(ValueError, match="successes"):
        analyse_experiment("bad", 0.05, "a", None, [arm("a", 10), arm("b", 10)], [proportion("a", 11), proportion("b", 1)], "clicked")


# ---------------------------------------------------------------------------------------------
# Long tables in, a table DuckDB can write out, text for the CLI
# ---------------------------------------------------------------------------------------------


def long_tables() -> tuple[list[dict], list[dict]]:
    arms_rows = []
    for experiment_id, arm_name, units, clicked, revenue_sum, revenue_sq in (
        ("mailchimp:abc", "a", 1000, 80, 900.0, 40000.0),
        ("mailchimp:abc", "b", 1010, 120, 1100.0, 52000.0),
        ("holdout:spring", "holdout", 300, 15, None, None),
        ("holdout:spring", "treated", 2700, 190, None, None),
        ("ga4:solo", "only", 500, 20, None, None),
    ):
        arms_rows.append({"experiment_id": experiment_id, "arm": arm_name, "units": units, "units_excluded": 1,
                          "metric": "clicked", "kind": "proportion", "value": clicked, "sum_sq": None})
        if revenue_sum is not None:
            arms_rows.append({"experiment_id": experiment_id, "arm": arm_name, "units": units, "units_excluded": 1,
                              "metric": "revenue", "kind": "continuous", "value": revenue_sum, "sum_sq": revenue_sq})
    experiments_rows = [
        {"experiment_id": "mailchimp:abc", "alpha": 0.05, "control_arm": "a", "planned_split": '{"a":0.5,"b":0.5}', "primary_metric": "clicked"},
        {"experiment_id": "holdout:spring", "alpha": 0.1, "control_arm": "holdout", "planned_split": None, "primary_metric": "clicked"},
        {"experiment_id": "ga4:solo", "alpha": 0.05, "control_arm": "only", "planned_split": None, "primary_metric": "clicked"},
    ]
    return arms_rows, experiments_rows


def test_analyse_all_groups_long_rows_and_writes_with_duckdb(cheap_gc):
    arms_rows, experiments_rows = long_tables()
    from_lists = analyse_all(arms_rows, experiments_rows, min_units_per_arm=30)
    from_frames = analyse_all(pd.DataFrame(arms_rows), pd.DataFrame(experiments_rows), min_units_per_arm=30)
    assert from_lists == from_frames
    assert [(r["experiment_id"], r["arm"], r["metric"]) for r in from_lists] == [
        ("holdout:spring", "treated", "clicked"), ("mailchimp:abc", "b", "clicked"), ("mailchimp:abc", "b", "revenue")]
    direct = analyse_experiment("mailchimp:abc", 0.05, "a", {"a": 0.5, "b": 0.5},
                                [arm("a", 1000, 1), arm("b", 1010, 1)],
                                [proportion("a", 80), {"arm": "a", "metric": "revenue", "kind": "continuous", "value": 900.0, "sum_sq": 40000.0},
                                 proportion("b", 120), {"arm": "b", "metric": "revenue", "kind": "continuous", "value": 1100.0, "sum_sq": 52000.0}],
                                "clicked")
    assert from_lists[1:] == direct
    assert from_lists[0]["srm_p_value"] is None

    table = pa.Table.from_pylist(from_lists, schema=RESULT_SCHEMA)
    assert tuple(table.column_names) == RESULT_COLUMNS
    connection = duckdb.connect()
    connection.register("results", table)
    connection.execute("create table fct_experiment_results as select * from results")
    types = dict(connection.execute("select column_name, data_type from information_schema.columns "
                                    "where table_name = 'fct_experiment_results'").fetchall())
    assert (types["arm_units"], types["p_value"], types["is_primary"], types["decision"]) == ("BIGINT", "DOUBLE", "BOOLEAN", "VARCHAR")
    assert connection.execute("select count(*) from fct_experiment_results").fetchone() == (3,)


def test_analyse_all_freezes_the_existing_heap_only_while_it_runs_and_leaves_a_callers_freeze_alone():
    arms_rows, experiments_rows = long_tables()
    assert gc.get_freeze_count() == 0
    seen = []
    with pytest.MonkeyPatch.context() as mp:  # the freeze is on while statsmodels' Holm runs its gc.collect()
        real = multitest.multipletests  # experiment_stats imports it at each use, so the patch is seen
        mp.setattr(multitest, "multipletests", lambda *a, **k: seen.append(gc.get_freeze_count()) or real(*a, **k))
        results = analyse_all(arms_rows, experiments_rows, min_units_per_arm=30)
    assert seen and all(count > 0 for count in seen)
    assert gc.get_freeze_count() == 0
    gc.freeze()
    try:
        assert analyse_all(arms_rows, experiments_rows, min_units_per_arm=30) == results
        assert gc.get_freeze_count() > 0  # the caller's freeze is still in place
    finally:
        gc.unfreeze()


def test_format_results_table():
    base = {"experiment_id": "mailchimp:abc", "arm": "b", "is_primary": True, "p_value_adjusted": 0.0123, "decision": "significant_positive"}
    rate_row = {**base, "metric": "clicked", "absolute_lift": 0.031, "ci_low": 0.012, "ci_high": 0.050}
    money_row = {**base, "metric": "revenue", "is_primary": False, "absolute_lift": 1.25, "ci_low": -0.5, "ci_high": 3.0,
                 "p_value_adjusted": 0.00001, "decision": "inconclusive"}
    undefined_row = {**base, "metric": "opened", "is_primary": False, "absolute_lift": None, "ci_low": None, "ci_high": None,
                     "p_value_adjusted": None, "decision": "insufficient_sample"}
    text = format_results_table([rate_row, money_row, undefined_row])
    lines = text.splitlines()
    assert lines[0].split() == ["experiment", "arm", "metric", "lift", "[CI]", "p", "(Holm)", "decision"]
    assert "+3.1 pp [+1.2, +5.0]" in lines[2] and "0.0123" in lines[2] and "clicked*" in lines[2]
    assert "+1.25 [-0.50, +3.00]" in lines[3] and "<0.0001" in lines[3]
    assert "n/a [n/a]" in lines[4] and "insufficient_sample" in lines[4]
    assert lines[2].index("significant_positive") == lines[0].index("decision")  # fixed width
    assert format_results_table([]).splitlines()[0].startswith("experiment")
