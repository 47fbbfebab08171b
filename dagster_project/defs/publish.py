"""The `publish` asset: the marts, as a PII-free serving snapshot for BI tools.

It depends on every mart (the dbt marts and the experiment statistics computed from them), so it
runs after `dbt build` and the statistics in the same run and is skipped when either failed, which
they do when any error-severity dbt test or experiment check (a blocking asset check) fails: a run
that fails its checks never replaces the snapshot readers see.
"""


from collections.abc import Mapping
from datetime import date

import dagster as dg

from dagster_project.defs.experiments import RESULTS_KEY as EXPERIMENT_RESULTS_KEY
from dagster_project.defs.partitions import SINGLE_RUN
from dagster_project.defs.resources import EngagementSettings
from dagster_project.defs.transform import engagement_dbt_models
from dagster_project.lib import build_state
from dagster_project.lib.engine import is_spark, write_lake_marts
from dagster_project.lib.publish import publish_snapshot
from dagster_project.lib.run_window import BACKFILL_TAG, run_window, spanning_window
from dagster_project.lib.warehouse import connect

CHANNELS = ("web", "email", "social", "any")

MART_KEYS = sorted([*(key for key in engagement_dbt_models.keys if key.path[0] == "marts"), EXPERIMENT_RESULTS_KEY],
                   key=lambda k: k.path)


def engaged_users_by_channel(warehouse: str) -> dict[str, int]:
    """Distinct persons who engaged with any campaign, per channel and across channels."""
    con = connect(warehouse, read_only=True)
    try:
        rows = con.execute(
            """
            select coalesce(channel, 'any'), count(distinct person_id)
            from intermediate.int_engagement_events
            where campaign_key is not null and person_id is not null
            group by grouping sets ((channel), ())
            """
        ).fetchall()
    finally:
        con.close()
    counts = {channel: 0 for channel in CHANNELS}
    counts.update({channel: int(n) for channel, n in rows})
    return counts


def reconciliation_mismatches(warehouse: str) -> dict[str, int]:
    """Posts and sends whose marts differ from the platform's latest figure, per channel and measure
    (fct_engagement_reconciliation): engagement the daily runs did not read, made visible."""
    con = connect(warehouse, read_only=True)
    try:
        rows = con.execute(
            """
            select channel || '_' || measure, count(*) filter (where difference <> 0), sum(abs(difference))
            from marts.fct_engagement_reconciliation
            group by channel, measure
            order by 1
            """
        ).fetchall()
    finally:
        con.close()
    out = {f"reconciliation_mismatched_{name}": int(items) for name, items, _ in rows}
    out["reconciliation_mismatched_items"] = sum(out.values())
    out["reconciliation_unread_interactions"] = int(sum(total or 0 for _, _, total in rows))
    return out


def publish_window(instance: dg.DagsterInstance, tags: Mapping[str, str]) -> tuple[date, date] | None:
    """The days a publish covers: its run's partition or range, else those of its backfill's runs.

    A backfill launched from the UI loads the raw days in one run (they share the partitions and the
    single-run policy) and runs dbt, the statistics and publish, which are not partitioned, in a
    later run that carries only the backfill's id."""
    window = run_window(tags)
    if window is None and BACKFILL_TAG in tags:
        runs = instance.get_runs(filters=dg.RunsFilter(tags={BACKFILL_TAG: tags[BACKFILL_TAG]}))
        window = spanning_window(run_window(run.tags) for run in runs)
    return window


@dg.asset(
    key="publish",
    deps=MART_KEYS,
    group_name="serving",
    description="Copy the marts into the serving snapshot (ENGAGEMENT_SERVING): person ids salted with "
    "ENGAGEMENT_PII_SALT, no raw email or handle, swapped in atomically; readers see the old or the new one.",
    kinds={"duckdb"},
    pool="engagement_warehouse",
    backfill_policy=SINGLE_RUN,
)
def publish(context: dg.AssetExecutionContext, engagement: EngagementSettings) -> dg.MaterializeResult:
    settings = engagement.load()
    window = publish_window(context.instance, context.run.tags)
    result = publish_snapshot(settings.warehouse, settings.serving, settings.pii_salt, window=window)
    build_state.mark_published(settings.warehouse, context.run.run_id)  # a re-run with the same inputs may skip
    if is_spark(settings):  # lake readers get the same salted marts as Parquet
        context.log.info(f"marts written as Parquet to {write_lake_marts(settings)}")
    engaged = engaged_users_by_channel(settings.warehouse)
    mismatches = reconciliation_mismatches(settings.warehouse)
    if mismatches["reconciliation_mismatched_items"]:
        context.log.warning(
            f"{mismatches['reconciliation_mismatched_items']} posts/sends x measures differ from the platform's latest "
            f"figure ({mismatches['reconciliation_unread_interactions']} interactions not read; see "
            "marts.fct_engagement_reconciliation): engagement after ENGAGEMENT_HORIZON_DAYS, or data lost on the way"
        )
    context.log.info(
        f"published {result.path} ({sum(result.rows.values())} rows in {len(result.rows)} marts, "
        f"{result.seconds:.2f} s); engaged users {engaged}"
    )
    metadata: dict[str, object] = {
        "path": dg.MetadataValue.path(str(result.path)),
        "snapshot_id": result.snapshot_id,
        "bytes": result.bytes,
        "seconds": result.seconds,
        **{f"rows_{table}": count for table, count in result.rows.items()},
        **{f"engaged_users_{channel}": count for channel, count in engaged.items()},
        **mismatches,
    }
    if window:
        metadata["window_start"], metadata["window_end"] = str(window[0]), str(window[1])
    return dg.MaterializeResult(metadata=metadata)
