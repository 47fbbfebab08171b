"""One ingestion asset per source stream, writing `raw_<source>.<stream>` in the warehouse (on Spark, in the lake).

Asset keys equal the dbt source keys (`[raw_<source>, <stream>]`), so lineage needs no mapping.
"""


from datetime import date, timedelta

import dagster as dg

from connectors.http import RequestStats
from connectors.registry import SOURCES
from connectors.streams import StreamSpec, Window
from dagster_project.defs.partitions import DAILY, SINGLE_RUN
from dagster_project.defs.resources import EngagementSettings
from dagster_project.lib import ingest_process, read_ahead
from dagster_project.lib import progress as run_progress
from dagster_project.lib.clients import all_streams
from dagster_project.lib.engine import cursor_of, ensure_raw_table
from dagster_project.lib.settings import Settings

PROGRESS_EVERY_PAGES = 20


def activity_window(partition_start: date, partition_end: date, settings: Settings) -> Window:
    """The days a run owns, widened back by the lookback so late opens and likes are re-read."""
    return Window(partition_start - settings.lookback, partition_end)


def stream_window(spec: StreamSpec, partition_start: date, partition_end: date, settings: Settings) -> Window:
    """What one run reads of a stream: its own days plus the lookback, and for interactions with
    posts and sends, everything created within the horizon (whatever the run's days), with their
    activity since the lookback began: engagement on a month-old post still arrives daily."""
    activity = activity_window(partition_start, partition_end, settings)
    if spec.reach == "activity":
        return activity
    horizon = settings.counter_horizon if spec.reach == "counters" else settings.horizon
    return Window(min(activity.start, partition_end - horizon), partition_end, since=activity.start_ts)


def is_reference(spec: StreamSpec) -> bool:
    return spec.cursor_column is not None


def run_window(spec: StreamSpec, settings: Settings, tw: dg.TimeWindow) -> Window:
    """What a run over the partitions `tw` reads of a stream: reference data by its cursor, the rest by days."""
    if is_reference(spec):
        today = date.today()
        return Window(today - timedelta(days=1), today + timedelta(days=1), cursor_of(settings, spec))
    return stream_window(spec, tw.start.date(), tw.end.date(), settings)


COMPLETE_FIGURES_CHECK = "api_figures_complete"


def _ingest(context: dg.AssetExecutionContext, settings: Settings, spec: StreamSpec,
            untrusted_facts: tuple[str, ...] = ()) -> dg.MaterializeResult:
    tw = context.partition_time_window
    child = None
    if settings.ingest_process == "child":  # the run's first step starts it with every stream's window (ingest_process.py)
        child = ingest_process.child_for(context.run.run_id, settings, lambda: [
            (s, run_window(s, settings, tw) if settings.enabled(s.source) else None)
            for s in read_ahead.run_streams(context, all_streams())])
    if child is not None and not child.owns(spec.table):
        child.join()  # the child holds the warehouse while it lives: this step reads and loads its own after it

    def progress(stream: str, stats: RequestStats) -> None:
        run_progress.report("stream_progress", stream=spec.table, **stats.as_dict())
        if stats.pages == 1 or stats.pages % PROGRESS_EVERY_PAGES == 0:
            context.log.info(
                f"{spec.source}.{stream}: {stats.pages} pages, {stats.records} records, {stats.retries} retries"
            )

    if not settings.enabled(spec.source):
        if child is not None and child.owns(spec.table):
            child.outcome(spec.table, progress)  # the child made the table
        else:
            ensure_raw_table(settings, spec)  # an empty table keeps every downstream model valid
        context.log.info(f"{spec.source} is not in ENGAGEMENT_SOURCES: {spec.table} left as it is")
        run_progress.report("stream_skipped", stream=spec.table)
        return dg.MaterializeResult(metadata={"enabled": False}, check_results=_complete_figures(untrusted_facts, None))

    run_progress.report("stream_started", stream=spec.table)
    if child is not None and child.owns(spec.table):
        outcome = child.outcome(spec.table, progress)
    else:
        outcome = ingest_process.fetch_and_load(  # in the run's process (ENGAGEMENT_INGEST_PROCESS=same)
            context.run.run_id, settings, spec, run_window(spec, settings, tw), progress,
            lambda: [(s, run_window(s, settings, tw)) for s in read_ahead.run_streams(context, all_streams())
                     if settings.enabled(s.source) and s != spec])
    window, result, stats = outcome.window, outcome.result, outcome.stats
    context.log.info(
        f"{spec.table}: {result.fetched} records in {stats.pages} pages ({stats.requests} requests, "
        f"{stats.retries} retries); {result.inserted} rows written, {result.deleted} replaced, {result.table_rows} stored"
    )
    run_progress.report("stream_done", stream=spec.table, **stats.as_dict(), written=result.inserted, stored=result.table_rows)
    metadata: dict[str, object] = {
        **result.as_metadata(),
        "pages": stats.pages,
        "requests": stats.requests,
        "retries": stats.retries,
        "waited_seconds": round(stats.waited_seconds, 3),
        "window_start": str(window.start),
        "window_end": str(window.end),
        "reach": spec.reach,
    }
    if window.cursor is not None:
        metadata["cursor"] = window.cursor.isoformat()
    if outcome.ignored_fields:  # what the API sent that no column holds: a new field shows up here first
        metadata["ignored_fields"] = ", ".join(outcome.ignored_fields)
        context.log.info(f"{spec.table}: fields the API sent that are not stored: {', '.join(outcome.ignored_fields)}")
    facts = outcome.facts  # what the API said about the read beyond its records (thresholding, partial errors)
    for key, value in facts.items():
        metadata[f"api_{key}"] = value
    if "skipped" in facts:  # the source cannot read this stream as configured: say so, never fail the run
        context.log.warning(f"{spec.table} {facts['skipped']}")
    return dg.MaterializeResult(metadata=metadata, check_results=_complete_figures(untrusted_facts, facts))


def _complete_figures(untrusted_facts: tuple[str, ...], facts: dict | None) -> list[dg.AssetCheckResult]:
    """The warn check of a source whose API can say its figures are estimates or incomplete."""
    if not untrusted_facts:
        return []
    found = {key: facts[key] for key in untrusted_facts if key in (facts or {})}
    return [dg.AssetCheckResult(
        check_name=COMPLETE_FIGURES_CHECK, passed=not found, severity=dg.AssetCheckSeverity.WARN,
        metadata=found or {"reported": "nothing read" if facts is None else "neither sampling nor truncation"},
        description=f"the API reported {', '.join(found)}: the figures are estimates or incomplete" if found else None,
    )]


def build_ingestion_asset(spec: StreamSpec, untrusted_facts: tuple[str, ...] = ()) -> dg.AssetsDefinition:
    """One stream's asset; `untrusted_facts` (what the API may say of a read that makes its figures
    estimates or incomplete) adds a warn-severity check that fails whenever the read reported one."""
    key = dg.AssetKey([f"raw_{spec.source}", spec.name])
    checks = [dg.AssetCheckSpec(COMPLETE_FIGURES_CHECK, asset=key, blocking=False,
                                description=f"the API reported none of {', '.join(untrusted_facts)} for the read")
              ] if untrusted_facts else []

    @dg.asset(
        key=key,
        check_specs=checks,
        group_name=f"raw_{spec.source}",
        description=spec.description or f"{spec.source} {spec.name}, merged on {', '.join(spec.primary_key)}",
        # reference streams too: they read by cursor whatever the days, but sharing the partitions and the
        # single-run policy puts every raw load of a backfill in one run (Dagster splits runs by both)
        partitions_def=DAILY,
        backfill_policy=SINGLE_RUN,
        kinds={"duckdb", "python"},
        pool="engagement_warehouse",
        tags={"source": spec.source},
    )
    def _asset(context: dg.AssetExecutionContext, engagement: EngagementSettings) -> dg.MaterializeResult:
        return _ingest(context, engagement.load(), spec, untrusted_facts)

    return _asset


def ingestion_assets() -> list[dg.AssetsDefinition]:
    return [build_ingestion_asset(spec, declared.client_class.UNTRUSTED_FACTS) for declared in SOURCES for spec in declared.streams]
