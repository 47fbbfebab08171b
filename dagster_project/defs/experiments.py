"""The experiment statistics: `marts.fct_experiment_results`, between the dbt marts and `publish`.

dbt counts (units, excluded units, successes, sums and sums of squares per experiment x arm in
`marts.fct_experiment_arms`); this asset turns the counts into statistics. They run in Python
because p-values, confidence intervals, Holm's correction and power need the normal, t and
chi-square distributions: DuckDB has no normal CDF (not even `erf`) and portable SQL none of them,
while statsmodels and scipy are the standard implementations the results must equal. Keeping the
counts in dbt keeps them one definition on every engine; only arithmetic on a few rows per
experiment happens here.

The asset reads the marts back through the warehouse connection rather than from dbt's own
engine: the marts are always in the warehouse (when dbt runs elsewhere they are read back into
it), so the statistics do not change with the engine. It replaces the table in one transaction,
so readers of the warehouse see the old results or the new ones, never half. Its checks are
blocking: a failing one stops `publish`, and the serving snapshot keeps its previous results.
"""

from collections.abc import Iterable, Sequence
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa

from dagster_project.defs.partitions import SINGLE_RUN
from dagster_project.defs.resources import EngagementSettings
from dagster_project.lib.experiment_stats import DEFAULT_MIN_UNITS_PER_ARM, RESULT_COLUMNS, RESULT_SCHEMA, analyse_all
from dagster_project.lib.warehouse import connect

RESULTS_KEY = dg.AssetKey(["marts", "fct_experiment_results"])
ARMS_KEY = dg.AssetKey(["marts", "fct_experiment_arms"])
EXPERIMENTS_KEY = dg.AssetKey(["marts", "dim_experiment"])
RESULTS_TABLE = "marts.fct_experiment_results"

DECISIONS = ("significant_positive", "significant_negative", "inconclusive", "sample_ratio_mismatch", "insufficient_sample")

# metric -> (kind, column of successes or sum, column of the sum of squares) in fct_experiment_arms.
# A NULL value column means the metric is not measurable for that arm (opens of a variate campaign).
METRIC_COLUMNS: dict[str, tuple[str, str, str | None]] = {
    "opened": ("proportion", "opened_successes", None),
    "clicked": ("proportion", "clicked_successes", None),
    "web_engaged": ("proportion", "web_engaged_successes", None),
    "key_event": ("proportion", "key_event_successes", None),
    "revenue": ("continuous", "revenue_sum", "revenue_sum_sq"),
}
EXPERIMENT_COLUMNS = ("experiment_id", "alpha", "control_arm", "planned_split", "primary_metric")


def long_arm_rows(arms: Iterable[dict]) -> list[dict]:
    """fct_experiment_arms (one row per experiment x arm, a column per metric) as the long rows the
    statistics read: one per experiment x arm x measurable metric."""
    rows = []
    for arm in arms:
        base = {"experiment_id": arm["experiment_id"], "arm": arm["arm"], "units": int(arm["units"]),
                "units_excluded": int(arm["units_excluded"])}
        measured = 0
        for metric, (kind, value_column, sum_sq_column) in METRIC_COLUMNS.items():
            value = arm[value_column]
            if value is None:
                continue
            # a 0/1 outcome squared is itself: the sum of squares of a proportion is its successes
            sum_sq = arm[sum_sq_column] if sum_sq_column else value
            rows.append({**base, "metric": metric, "kind": kind, "value": float(value),
                         "sum_sq": None if sum_sq is None else float(sum_sq)})
            measured += 1
        if not measured:  # still an arm (its units count in the sample-ratio test)
            rows.append({**base, "metric": None, "kind": None, "value": None, "sum_sq": None})
    return rows


def _dicts(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def read_marts(con: duckdb.DuckDBPyConnection) -> tuple[list[dict], list[dict], int]:
    """(long arm rows, experiment rows, minimum units per arm) from the warehouse's marts."""
    arms = _dicts(con, "select * from marts.fct_experiment_arms order by experiment_id, arm")
    experiments = _dicts(con, f"select {', '.join(EXPERIMENT_COLUMNS)}, min_units_per_arm from marts.dim_experiment "
                              "order by experiment_id")
    minimums = {int(e.pop("min_units_per_arm")) for e in experiments}
    if len(minimums) > 1:
        raise ValueError(f"marts.dim_experiment holds several min_units_per_arm values {sorted(minimums)}; expected one")
    return long_arm_rows(arms), experiments, minimums.pop() if minimums else DEFAULT_MIN_UNITS_PER_ARM


def write_results(con: duckdb.DuckDBPyConnection, rows: Sequence[dict]) -> int:
    """Replace marts.fct_experiment_results with `rows`, in one transaction."""
    table = pa.Table.from_pylist([{c: r.get(c) for c in RESULT_COLUMNS} for r in rows], schema=RESULT_SCHEMA)
    con.register("experiment_results", table)
    con.execute("begin transaction")
    try:
        con.execute("create schema if not exists marts")
        con.execute(f"create or replace table {RESULTS_TABLE} as select * from experiment_results")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.unregister("experiment_results")
    return len(rows)


def check_results(con: duckdb.DuckDBPyConnection) -> list[dg.AssetCheckResult]:
    """The table as written: decisions in the allowed set, Holm never lowers a p-value, one row per
    experiment x arm x metric."""
    allowed = ", ".join(f"'{d}'" for d in DECISIONS)
    bad_decisions = con.execute(
        f"select count(*) from {RESULTS_TABLE} where decision is null or decision not in ({allowed})").fetchone()[0]
    lowered = con.execute(
        f"select count(*) from {RESULTS_TABLE} where p_value_adjusted < p_value").fetchone()[0]
    duplicated = con.execute(
        f"""select count(*) from (select experiment_id, arm, metric from {RESULTS_TABLE}
            group by experiment_id, arm, metric having count(*) > 1) as keys""").fetchone()[0]
    return [
        dg.AssetCheckResult(check_name="decision_in_allowed_set", passed=bad_decisions == 0,
                            metadata={"rows_outside": bad_decisions, "allowed": ", ".join(DECISIONS)}),
        dg.AssetCheckResult(check_name="adjusted_p_value_not_below_p_value", passed=lowered == 0,
                            metadata={"rows_lowered": lowered}),
        dg.AssetCheckResult(check_name="one_row_per_experiment_arm_metric", passed=duplicated == 0,
                            metadata={"duplicated_keys": duplicated}),
    ]


CHECK_SPECS = [
    dg.AssetCheckSpec("decision_in_allowed_set", asset=RESULTS_KEY, blocking=True,
                      description=f"decision is one of {', '.join(DECISIONS)}"),
    dg.AssetCheckSpec("adjusted_p_value_not_below_p_value", asset=RESULTS_KEY, blocking=True,
                      description="Holm's correction never lowers a p-value: p_value_adjusted >= p_value"),
    dg.AssetCheckSpec("one_row_per_experiment_arm_metric", asset=RESULTS_KEY, blocking=True,
                      description="the grain: one row per experiment x arm x metric"),
]


def refresh_results(warehouse: str | Path) -> tuple[list[dict], list[dg.AssetCheckResult]]:
    """Read the counts, compute the statistics, replace the results table and check it."""
    con = connect(warehouse)
    try:
        arm_rows, experiments, min_units = read_marts(con)
        results = analyse_all(arm_rows, experiments, min_units)
        write_results(con, results)
        checks = check_results(con)
    finally:
        con.close()
    return results, checks


@dg.asset(
    key=RESULTS_KEY,
    deps=[ARMS_KEY, EXPERIMENTS_KEY],
    check_specs=CHECK_SPECS,
    group_name="experiments",
    description="Each experiment arm against its control, per metric: rates, lift, Wald interval, z-test (proportions) "
    "or Welch's t-test (revenue), Holm-adjusted p-values, sample-ratio-mismatch test, MDE at 80% power and a decision. "
    "Computed with statsmodels/scipy from the counts in marts.fct_experiment_arms.",
    kinds={"python", "duckdb"},
    pool="engagement_warehouse",
    backfill_policy=SINGLE_RUN,
)
def fct_experiment_results(context: dg.AssetExecutionContext, engagement: EngagementSettings):
    settings = engagement.load()
    results, checks = refresh_results(settings.warehouse)
    decisions: dict[str, int] = {}
    for row in results:
        decisions[row["decision"]] = decisions.get(row["decision"], 0) + 1
    context.log.info(f"{len(results)} experiment results for "
                     f"{len({r['experiment_id'] for r in results})} experiments; decisions {decisions}")
    yield dg.MaterializeResult(metadata={
        "rows": len(results),
        "experiments": len({r["experiment_id"] for r in results}),
        **{f"decisions_{decision}": decisions.get(decision, 0) for decision in DECISIONS},
    })
    yield from checks
