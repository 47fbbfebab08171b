"""Statistics of experiments: per-arm counts in, `fct_experiment_results` rows out.

Pure Python (no Dagster, dbt or DuckDB): the asset feeds it the long rows of `fct_experiment_arms`
and `dim_experiment` and writes what comes back. Every number comes from statsmodels or scipy, so
each one equals the standard implementation on the same counts.

One row per (non-control arm x metric), each arm against the control:

- Proportions (`opened`, `clicked`, `web_engaged`, `key_event`): two-sided two-proportion z-test
  with the *pooled* variance (statsmodels `proportions_ztest`), the usual test under H0: equal rates.
  The interval for arm - control is the *unpooled* Wald interval (`confint_proportions_2indep`,
  method='wald', compare='diff'): under the alternative the rates differ, so each arm keeps its own
  variance. Test and interval can therefore disagree at the margin; that is standard practice.
- Continuous (`revenue`): Welch's t-test from sufficient statistics (units, sum, sum of squares;
  scipy `ttest_ind_from_stats(equal_var=False)`), and a Welch interval on the difference of means:
  diff +- t(1 - alpha/2, df) * se with the Welch-Satterthwaite df and scipy's `t.ppf`. Sample
  variances use ddof=1 and are computed as (sum_sq - sum^2/n) / (n - 1), clipped at 0.
- SRM: chi-square goodness of fit (scipy `chisquare`) of every arm's analysed units against the
  planned split (shares normalised to sum 1); None without a planned split. Arms that have units but
  no planned share make the split impossible: srm_p_value is 0.0 (a mismatch by definition, and
  chisquare would divide by a zero expectation). Planned arms with no units count as 0 observed.
- Holm (statsmodels `multipletests(method='holm')`) runs over ALL rows of one experiment (every arm
  and every metric) whose raw p-value is defined; a row without a p-value is not a test performed, so
  it is not in the family and its p_value_adjusted is None.
- MDE at 80% power, two-sided, at the experiment's alpha and the two arms' actual sizes:
  proportions: statsmodels `NormalIndPower` solves Cohen's h = 2*asin(sqrt(p1)) - 2*asin(sqrt(p0)),
  converted back to a rate above the control rate p0: p1 = sin(asin(sqrt(p0)) + h/2)^2, and
  mde = p1 - p0 (an absolute difference of rates). None when p1 would pass 1 (no upward effect of
  that size exists, e.g. a control rate of 1). Revenue: `TTestIndPower`'s effect size (Cohen's d)
  times the pooled standard deviation of the two arms: an absolute difference in means.
- decision, in this order: `sample_ratio_mismatch` if srm_p_value < 0.001; `insufficient_sample` if
  this arm or the control has fewer than `min_units_per_arm` units; `significant_positive` /
  `significant_negative` if p_value_adjusted < alpha (by the sign of absolute_lift); else
  `inconclusive`. The statistics are filled in whatever the decision.

Degenerate cases never raise; each statistic that is mathematically undefined is None:

- an arm (or the control) with zero units: its rate, the lifts, test, interval and MDE are None;
  SRM is still computed over all arms.
- both arms at 0 successes (or both at 100%): the pooled variance is 0, so test_statistic and
  p_value are None; the Wald interval collapses to [0, 0] (what statsmodels returns: Wald's known
  weakness at rates of 0 and 1); relative_lift is None when the control rate is 0.
- revenue with fewer than 2 units in an arm, a missing sum of squares, or zero variance in both
  arms: the Welch test and interval are None; MDE is None when the pooled sd is 0 or undefined.
- a control rate of 0: relative_lift is None.
- an experiment with fewer than two arms, or without its control arm among them: no rows.
- a metric missing for the arm or the control (e.g. `opened` on a variate campaign): no row.

Malformed input that no count can explain (successes above units, negative units, an unknown kind,
a negative planned share) is a caller's bug and raises ValueError.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    from statsmodels.stats.power import NormalIndPower, TTestIndPower

# scipy and statsmodels (with pandas and patsy) are imported where they are used: at module level they
# added 88 MiB to every process that loads the definitions, all through the loads and dbt's build,
# while a refresh computes the statistics only after dbt.

PROPORTION = "proportion"
CONTINUOUS = "continuous"
# The metric names of the experiments contract that are continuous (all others are proportions).
CONTINUOUS_METRICS = frozenset({"revenue"})

DEFAULT_ALPHA = 0.05
DEFAULT_MIN_UNITS_PER_ARM = 30
SRM_P_THRESHOLD = 0.001
MDE_POWER = 0.8

RESULT_COLUMNS = (
    "experiment_id",
    "arm",
    "metric",
    "is_primary",
    "control_units",
    "control_value",
    "arm_units",
    "arm_value",
    "control_rate",
    "arm_rate",
    "absolute_lift",
    "relative_lift",
    "ci_low",
    "ci_high",
    "test_statistic",
    "p_value",
    "p_value_adjusted",
    "srm_p_value",
    "mde_at_80_power",
    "decision",
)

_STRING_COLUMNS = {"experiment_id", "arm", "metric", "decision"}
_INT_COLUMNS = {"control_units", "arm_units"}
RESULT_SCHEMA = pa.schema(
    [
        pa.field(
            name,
            pa.string() if name in _STRING_COLUMNS
            else pa.int64() if name in _INT_COLUMNS
            else pa.bool_() if name == "is_primary"
            else pa.float64(),
        )
        for name in RESULT_COLUMNS
    ]
)


# ---------------------------------------------------------------------------------------------
# Statistics of one comparison (arm against control). Each returns None where undefined.
# ---------------------------------------------------------------------------------------------


def _finite_or_none(value: Any) -> float | None:
    if value is None:
        return None
    number = float(np.squeeze(value))
    return number if math.isfinite(number) else None


def two_proportion_test(arm_successes: float, arm_units: int, control_successes: float, control_units: int) -> tuple[float | None, float | None]:
    """Pooled two-sided z-test of arm vs control: (z, p), z > 0 when the arm's rate is higher."""
    if arm_units <= 0 or control_units <= 0:
        return None, None
    pooled_rate = (arm_successes + control_successes) / (arm_units + control_units)
    if pooled_rate <= 0 or pooled_rate >= 1:  # zero pooled variance: z is 0/0
        return None, None
    from statsmodels.stats.proportion import proportions_ztest
    z, p = proportions_ztest([arm_successes, control_successes], [arm_units, control_units], alternative="two-sided")
    return _finite_or_none(z), _finite_or_none(p)


def two_proportion_interval(arm_successes: float, arm_units: int, control_successes: float, control_units: int, alpha: float) -> tuple[float | None, float | None]:
    """Unpooled Wald interval for arm rate - control rate at confidence 1 - alpha."""
    if arm_units <= 0 or control_units <= 0:
        return None, None
    from statsmodels.stats.proportion import confint_proportions_2indep
    low, high = confint_proportions_2indep(
        arm_successes, arm_units, control_successes, control_units, method="wald", compare="diff", alpha=alpha
    )
    return _finite_or_none(low), _finite_or_none(high)


@lru_cache(maxsize=4096)
def _cohens_h_at_power(control_units: int, arm_units: int, alpha: float) -> float | None:
    # Cached: the effect size depends only on the sizes and alpha, and the solver is the slow part.
    ratio = arm_units / control_units
    from statsmodels.stats.power import NormalIndPower
    analysis = NormalIndPower()
    h = _finite_or_none(analysis.solve_power(effect_size=None, nobs1=control_units, alpha=alpha, power=MDE_POWER, ratio=ratio, alternative="two-sided"))
    return h if h is not None and _solved(analysis, h, control_units, ratio, alpha) else None


@lru_cache(maxsize=4096)
def _cohens_d_at_power(control_units: int, arm_units: int, alpha: float) -> float | None:
    ratio = arm_units / control_units
    from statsmodels.stats.power import TTestIndPower
    analysis = TTestIndPower()
    try:
        d = _finite_or_none(analysis.solve_power(effect_size=None, nobs1=control_units, alpha=alpha, power=MDE_POWER, ratio=ratio, alternative="two-sided"))
    except ValueError:  # the root finder found no bracket (only for tiny samples)
        return None
    return d if d is not None and _solved(analysis, d, control_units, ratio, alpha) else None


def _solved(analysis: NormalIndPower | TTestIndPower, effect_size: float, nobs1: int, ratio: float, alpha: float) -> bool:
    # statsmodels can return a non-converged value instead of raising (its solutions are only good to
    # ~1e-4 in power, hence the loose check): keep only a real solution.
    achieved = _finite_or_none(analysis.power(effect_size=effect_size, nobs1=nobs1, alpha=alpha, ratio=ratio))
    return effect_size > 0 and achieved is not None and abs(achieved - MDE_POWER) < 1e-3


def proportion_mde(control_successes: float, control_units: int, arm_units: int, alpha: float) -> float | None:
    """Smallest absolute rise of the rate above the control's detectable with 80% power (two-sided)."""
    if control_units <= 0 or arm_units <= 0:
        return None
    h = _cohens_h_at_power(int(control_units), int(arm_units), float(alpha))
    if h is None:
        return None
    control_rate = control_successes / control_units
    # Inverse of Cohen's h = 2*asin(sqrt(p1)) - 2*asin(sqrt(p0)), solved for p1 above p0.
    angle = math.asin(math.sqrt(control_rate)) + h / 2
    if angle > math.pi / 2:
        return None
    return math.sin(angle) ** 2 - control_rate


def _sample_variance(units: int, total: float, sum_sq: float | None) -> float | None:
    if sum_sq is None or units < 2:
        return None
    return max(0.0, (sum_sq - total * total / units) / (units - 1))


def welch_test(arm_units: int, arm_sum: float, arm_sum_sq: float | None, control_units: int, control_sum: float, control_sum_sq: float | None) -> tuple[float | None, float | None]:
    """Welch's two-sided t-test of arm mean vs control mean from sufficient statistics: (t, p)."""
    arm_var = _sample_variance(arm_units, arm_sum, arm_sum_sq)
    control_var = _sample_variance(control_units, control_sum, control_sum_sq)
    if arm_var is None or control_var is None or arm_var + control_var == 0:
        return None, None
    from scipy import stats as scipy_stats
    t, p = scipy_stats.ttest_ind_from_stats(
        arm_sum / arm_units, math.sqrt(arm_var), arm_units,
        control_sum / control_units, math.sqrt(control_var), control_units,
        equal_var=False,
    )
    return _finite_or_none(t), _finite_or_none(p)


def welch_interval(arm_units: int, arm_sum: float, arm_sum_sq: float | None, control_units: int, control_sum: float, control_sum_sq: float | None, alpha: float) -> tuple[float | None, float | None]:
    """Welch interval for arm mean - control mean at 1 - alpha, with Welch-Satterthwaite df."""
    arm_var = _sample_variance(arm_units, arm_sum, arm_sum_sq)
    control_var = _sample_variance(control_units, control_sum, control_sum_sq)
    if arm_var is None or control_var is None or arm_var + control_var == 0:
        return None, None
    arm_se2, control_se2 = arm_var / arm_units, control_var / control_units
    std_error = math.sqrt(arm_se2 + control_se2)
    df = (arm_se2 + control_se2) ** 2 / (arm_se2**2 / (arm_units - 1) + control_se2**2 / (control_units - 1))
    from scipy import stats as scipy_stats
    margin = scipy_stats.t.ppf(1 - alpha / 2, df) * std_error
    difference = arm_sum / arm_units - control_sum / control_units
    return _finite_or_none(difference - margin), _finite_or_none(difference + margin)


def mean_mde(arm_units: int, arm_sum: float, arm_sum_sq: float | None, control_units: int, control_sum: float, control_sum_sq: float | None, alpha: float) -> float | None:
    """Smallest absolute difference in means detectable with 80% power: Cohen's d x pooled sd."""
    arm_var = _sample_variance(arm_units, arm_sum, arm_sum_sq)
    control_var = _sample_variance(control_units, control_sum, control_sum_sq)
    if arm_var is None or control_var is None:
        return None
    pooled_sd = math.sqrt(((arm_units - 1) * arm_var + (control_units - 1) * control_var) / (arm_units + control_units - 2))
    if pooled_sd == 0:
        return None
    d = _cohens_d_at_power(int(control_units), int(arm_units), float(alpha))
    return None if d is None else d * pooled_sd


def sample_ratio_p_value(units_by_arm: Mapping[str, int], planned_split: Mapping[str, float] | None) -> float | None:
    """Chi-square goodness of fit of the arms' units against the planned split; None without a split."""
    if not planned_split:
        return None
    shares = {arm: float(share) for arm, share in planned_split.items()}
    if any(not math.isfinite(share) or share < 0 for share in shares.values()):
        raise ValueError(f"planned split shares must be finite and non-negative: {dict(planned_split)!r}")
    share_total = sum(shares.values())
    if share_total <= 0:
        return None
    arms = list(shares) + [arm for arm, units in units_by_arm.items() if arm not in shares and units > 0]
    observed = [float(units_by_arm.get(arm, 0)) for arm in arms]
    unit_total = sum(observed)
    if unit_total <= 0:
        return None
    expected = [unit_total * shares.get(arm, 0.0) / share_total for arm in arms]
    if any(exp == 0 and obs > 0 for obs, exp in zip(observed, expected, strict=True)):
        return 0.0  # units in an arm planned to receive none
    kept = [(obs, exp) for obs, exp in zip(observed, expected, strict=True) if exp > 0]
    if len(kept) < 2:
        return None
    from scipy import stats as scipy_stats
    result = scipy_stats.chisquare([obs for obs, _ in kept], [exp for _, exp in kept])
    return _finite_or_none(result.pvalue)


def holm_adjust(p_values: list[float | None], alpha: float) -> list[float | None]:
    """Holm step-down adjustment over the defined p-values; None stays None."""
    defined = [i for i, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = [None] * len(p_values)
    if len(defined) == 1:
        # Holm over one test is that test's p. Skipping statsmodels here is exact and matters:
        # its holm branch runs a full gc.collect() per call (tens of ms in a large process).
        adjusted[defined[0]] = p_values[defined[0]]
    elif defined:
        from statsmodels.stats.multitest import multipletests
        corrected = multipletests([p_values[i] for i in defined], alpha=alpha, method="holm")[1]
        for i, value in zip(defined, corrected, strict=True):
            adjusted[i] = _finite_or_none(value)
    return adjusted


def decide(srm_p_value: float | None, arm_units: int, control_units: int, p_value_adjusted: float | None, absolute_lift: float | None, alpha: float, min_units_per_arm: int) -> str:
    if srm_p_value is not None and srm_p_value < SRM_P_THRESHOLD:
        return "sample_ratio_mismatch"
    if arm_units < min_units_per_arm or control_units < min_units_per_arm:
        return "insufficient_sample"
    if p_value_adjusted is not None and p_value_adjusted < alpha and absolute_lift:
        return "significant_positive" if absolute_lift > 0 else "significant_negative"
    return "inconclusive"


# ---------------------------------------------------------------------------------------------
# One experiment
# ---------------------------------------------------------------------------------------------


def _rate(value: float, units: int) -> float | None:
    return value / units if units > 0 else None


def _compare(metric: Mapping[str, Any], control_metric: Mapping[str, Any], arm_units: int, control_units: int, alpha: float) -> dict[str, Any]:
    kind = metric["kind"]
    arm_value, control_value = float(metric["value"]), float(control_metric["value"])
    if kind == PROPORTION:
        for units, value, who in ((arm_units, arm_value, metric["arm"]), (control_units, control_value, control_metric["arm"])):
            if value < 0 or value > units:
                raise ValueError(f"{metric['metric']!r} of arm {who!r}: {value} successes out of {units} units")
        statistic, p_value = two_proportion_test(arm_value, arm_units, control_value, control_units)
        ci_low, ci_high = two_proportion_interval(arm_value, arm_units, control_value, control_units, alpha)
        mde = proportion_mde(control_value, control_units, arm_units, alpha)
    elif kind == CONTINUOUS:
        arm_sum_sq, control_sum_sq = _optional_float(metric.get("sum_sq")), _optional_float(control_metric.get("sum_sq"))
        sufficient = (arm_units, arm_value, arm_sum_sq, control_units, control_value, control_sum_sq)
        statistic, p_value = welch_test(*sufficient)
        ci_low, ci_high = welch_interval(*sufficient, alpha)
        mde = mean_mde(*sufficient, alpha)
    else:
        raise ValueError(f"unknown metric kind {kind!r} for {metric['metric']!r}")
    control_rate, arm_rate = _rate(control_value, control_units), _rate(arm_value, arm_units)
    absolute_lift = arm_rate - control_rate if arm_rate is not None and control_rate is not None else None
    relative_lift = absolute_lift / control_rate if absolute_lift is not None and control_rate else None
    return {
        "control_units": control_units,
        "control_value": control_value,
        "arm_units": arm_units,
        "arm_value": arm_value,
        "control_rate": control_rate,
        "arm_rate": arm_rate,
        "absolute_lift": absolute_lift,
        "relative_lift": relative_lift,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "test_statistic": statistic,
        "p_value": p_value,
        "mde_at_80_power": mde,
    }


def _optional_float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def analyse_experiment(
    experiment_id: str,
    alpha: float,
    control_arm: str,
    planned_split: dict[str, float] | None,
    arms: list[dict],
    metrics: list[dict],
    primary_metric: str,
    min_units_per_arm: int = DEFAULT_MIN_UNITS_PER_ARM,
) -> list[dict]:
    """`fct_experiment_results` rows of one experiment: each non-control arm x metric against the control.

    arms: {"arm", "units", "units_excluded"}; metrics: {"arm", "metric", "kind", "value", "sum_sq"}
    with kind "proportion" (value = successes) or "continuous" (value = sum, sum_sq = sum of squares).
    Rows follow the order of `arms`, then of the metrics' first appearance.
    """
    units_by_arm: dict[str, int] = {}
    for arm in arms:
        units = int(arm["units"])
        if units < 0:
            raise ValueError(f"experiment {experiment_id!r}: arm {arm['arm']!r} has {units} units")
        if arm["arm"] in units_by_arm:
            raise ValueError(f"experiment {experiment_id!r}: arm {arm['arm']!r} given twice")
        units_by_arm[arm["arm"]] = units
    if len(units_by_arm) < 2 or control_arm not in units_by_arm:
        return []

    metric_rows: dict[tuple[str, str], Mapping[str, Any]] = {}
    metric_names: list[str] = []
    for metric in metrics:
        key = (metric["arm"], metric["metric"])
        if metric["arm"] not in units_by_arm:
            raise ValueError(f"experiment {experiment_id!r}: metric {metric['metric']!r} for unknown arm {metric['arm']!r}")
        if key in metric_rows:
            raise ValueError(f"experiment {experiment_id!r}: metric {key[1]!r} of arm {key[0]!r} given twice")
        if _optional_float(metric.get("value")) is None:
            continue  # not measured for this arm
        metric_rows[key] = metric
        if metric["metric"] not in metric_names:
            metric_names.append(metric["metric"])

    srm_p_value = sample_ratio_p_value(units_by_arm, planned_split)
    control_units = units_by_arm[control_arm]
    rows: list[dict[str, Any]] = []
    for arm, arm_units in units_by_arm.items():
        if arm == control_arm:
            continue
        for name in metric_names:
            metric, control_metric = metric_rows.get((arm, name)), metric_rows.get((control_arm, name))
            if metric is None or control_metric is None:
                continue
            if metric["kind"] != control_metric["kind"]:
                raise ValueError(f"experiment {experiment_id!r}: metric {name!r} has kinds {metric['kind']!r} and {control_metric['kind']!r}")
            row = {"experiment_id": experiment_id, "arm": arm, "metric": name, "is_primary": name == primary_metric}
            row.update(_compare(metric, control_metric, arm_units, control_units, alpha))
            rows.append(row)

    for row, adjusted in zip(rows, holm_adjust([row["p_value"] for row in rows], alpha), strict=True):
        row["p_value_adjusted"] = adjusted
        row["srm_p_value"] = srm_p_value
        row["decision"] = decide(srm_p_value, row["arm_units"], row["control_units"], adjusted, row["absolute_lift"], alpha, min_units_per_arm)
    return [{column: row[column] for column in RESULT_COLUMNS} for row in rows]


# ---------------------------------------------------------------------------------------------
# Many experiments from the long tables
# ---------------------------------------------------------------------------------------------


def _records(table: Any) -> list[dict[str, Any]]:
    if hasattr(table, "to_dict"):  # a pandas DataFrame
        table = table.to_dict("records")
    return [{key: _missing_to_none(value) for key, value in dict(record).items()} for record in table]


def _missing_to_none(value: Any) -> Any:
    # pandas hands NULLs back as NaN, NaT or pd.NA; the statistics expect None.
    try:
        return None if value is None or (not isinstance(value, str) and bool(value != value)) else value
    except TypeError:  # pd.NA refuses bool()
        return None


def parse_planned_split(value: str | Mapping[str, float] | None) -> dict[str, float] | None:
    """'{"a":0.5,"b":0.5}' (or a mapping) -> {"a": 0.5, "b": 0.5}; None or '' -> None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    split = json.loads(value) if isinstance(value, str) else dict(value)
    if not isinstance(split, dict):
        raise ValueError(f"planned split must be a JSON object of arm -> share, got {value!r}")
    return {str(arm): float(share) for arm, share in split.items()}


@contextlib.contextmanager
def existing_objects_frozen() -> Iterator[None]:
    """statsmodels' Holm branch ends every call with a full gc.collect(). In a process holding Dagster's and
    dbt's definitions (~340k objects) each takes ~0.2 s: ~1.5 s of a refresh of the test world.
    gc.freeze() leaves the objects that exist now out of collections (nothing here frees them), so each
    collect sees only what the statistics made; gc.unfreeze() hands them back."""
    if gc.get_freeze_count():  # someone else froze them: leave their freeze alone
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def analyse_all(arms_rows: Any, experiments_rows: Any, min_units_per_arm: int = DEFAULT_MIN_UNITS_PER_ARM) -> list[dict]:
    """Result rows of every experiment in `experiments_rows` (dim_experiment-like).

    arms_rows: long rows (experiment_id, arm, units, units_excluded, metric, kind, value, sum_sq), one
    per arm x metric; a row with metric None only declares the arm. DataFrames or lists of dicts.
    Experiments are taken in experiment_id order, arms and metrics in name order.
    """
    arm_records = sorted(_records(arms_rows), key=lambda r: (str(r["experiment_id"]), str(r["arm"]), str(r.get("metric") or "")))
    by_experiment: dict[str, tuple[dict[str, dict], list[dict]]] = {}
    for record in arm_records:
        arms, metrics = by_experiment.setdefault(record["experiment_id"], ({}, []))
        arm = {"arm": record["arm"], "units": int(record["units"] or 0), "units_excluded": int(record.get("units_excluded") or 0)}
        if arms.setdefault(record["arm"], arm) != arm:
            raise ValueError(f"experiment {record['experiment_id']!r}: arm {record['arm']!r} has differing units across its rows")
        if record.get("metric") is not None:
            metrics.append({key: record.get(key) for key in ("arm", "metric", "kind", "value", "sum_sq")})

    results: list[dict] = []
    with existing_objects_frozen():
        for experiment in sorted(_records(experiments_rows), key=lambda r: str(r["experiment_id"])):
            arms, metrics = by_experiment.get(experiment["experiment_id"], ({}, []))
            alpha = experiment.get("alpha")
            results.extend(
                analyse_experiment(
                    experiment_id=experiment["experiment_id"],
                    alpha=DEFAULT_ALPHA if alpha is None else float(alpha),
                    control_arm=experiment["control_arm"],
                    planned_split=parse_planned_split(experiment.get("planned_split")),
                    arms=list(arms.values()),
                    metrics=metrics,
                    primary_metric=experiment.get("primary_metric"),
                    min_units_per_arm=min_units_per_arm,
                )
            )
    return results


# ---------------------------------------------------------------------------------------------
# Text for the CLI
# ---------------------------------------------------------------------------------------------


def _signed(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:+.{digits}f}"


def _lift_text(row: Mapping[str, Any], continuous_metrics: Iterable[str]) -> str:
    if row["metric"] in continuous_metrics:
        scale, digits, unit = 1.0, 2, ""
    else:
        scale, digits, unit = 100.0, 1, " pp"  # percentage points
    lift, low, high = (None if row[k] is None else row[k] * scale for k in ("absolute_lift", "ci_low", "ci_high"))
    interval = "[n/a]" if low is None or high is None else f"[{_signed(low, digits)}, {_signed(high, digits)}]"
    return f"{_signed(lift, digits)}{unit if lift is not None else ''} {interval}"


def _p_text(p: float | None) -> str:
    if p is None:
        return "n/a"
    return "<0.0001" if p < 0.0001 else f"{p:.4f}"


def format_results_table(rows: Iterable[Mapping[str, Any]], continuous_metrics: Iterable[str] = CONTINUOUS_METRICS) -> str:
    """A fixed-width table of result rows: lift (pp for rates) with its interval, adjusted p, decision."""
    continuous = frozenset(continuous_metrics)
    header = ("experiment", "arm", "metric", "lift [CI]", "p (Holm)", "decision")
    lines = [
        (str(row["experiment_id"]), str(row["arm"]), str(row["metric"]) + ("*" if row["is_primary"] else ""),
         _lift_text(row, continuous), _p_text(row["p_value_adjusted"]), str(row["decision"]))
        for row in rows
    ]
    widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header))]
    text = ["  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip() for cells in [header, *lines]]
    text.insert(1, "  ".join("-" * width for width in widths))
    if lines:
        text.append("* primary metric")
    return "\n".join(text)
