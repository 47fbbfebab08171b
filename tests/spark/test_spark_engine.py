"""The same dbt project on Spark (ENGAGEMENT_ENGINE=spark, dbt-spark's session method): equal marts.

One small world (the suite's `world`) feeds the module, served by one sandbox. DuckDB's marts are
the suite's shared refresh of its whole window (`refreshed_world`, read only here). Spark runs dbt
three times, the fewest the claims allow (each run pays for a JVM, the metastore and ~1 s per model
or test, whatever the rows):

1. [start, start+10d): a first backfill, as Dagster materialises a selection: every raw stream,
   and the incremental models with what they read (their state, which the second run extends).
   Every other model is rebuilt from scratch by every run, so building it here proves nothing.
2. [start+14d, end), whose lookback overlaps the first window: the whole refresh as it runs in
   production, the incremental models built incrementally, every data test a blocking check, and
   the snapshot published. Its marts must equal DuckDB's row for row (integers and strings exactly,
   ratios to 1e-12) and the world's truth (the comparisons of tests/e2e/test_pipeline.py).
3. The second window again, with `dbt build --full-refresh` (every model from scratch, every unit
   test) and the publish step failing: the raw Parquet keeps its bytes, the marts equal the
   incremental ones, and the failed run leaves the snapshot and the lake's published marts as
   they were. Its data tests are left out: its marts must equal those run 2 tested.
"""

from __future__ import annotations

import hashlib
import math
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_dbt import build_dbt_asset_selection

from connectors.registry import SOURCES
from connectors.sandbox.server import SandboxServer
from dagster_project.cli import run_refresh
from dagster_project.defs import publish as publish_asset
from dagster_project.defs import transform
from dagster_project.defs.ingestion import ingestion_assets
from dagster_project.lib import engine
from dagster_project.lib.run_window import range_tags
from dagster_project.lib.settings import load_settings
from tests.conftest import point_pipeline_at
from tests.e2e import test_pipeline as e2e

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # one long module fixture: four refreshes on a loaded machine

MARTS = e2e.MARTS


def file_digests(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under `folder` (links followed): its sha256 and its modification time."""
    return {
        str(path.relative_to(folder)): (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*")) if path.is_file()
    }


def mart_rows(database: Path) -> dict[str, list[dict]]:
    """Every mart, rows as dicts, in grain order; `_loaded_at` says when a row was built, not what it holds."""
    out = {}
    with duckdb.connect(str(database), read_only=True) as con:
        for mart, grain in MARTS.items():
            cursor = con.execute(f"select * from marts.{mart} order by {grain}")
            names = [d[0] for d in cursor.description]
            out[mart] = [{k: v for k, v in zip(names, row, strict=True) if k != "_loaded_at"} for row in cursor.fetchall()]
    return out


def mart_digests(database: Path) -> dict[str, str]:
    return {mart: hashlib.sha256(repr(rows).encode()).hexdigest() for mart, rows in mart_rows(database).items()}


def equal_values(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b))
    return a == b and type(a) is type(b)


def differences(spark: list[dict], duck: list[dict]) -> list[str]:
    if len(spark) != len(duck):
        return [f"{len(spark)} rows on Spark, {len(duck)} on DuckDB"]
    found = []
    for i, (s, d) in enumerate(zip(spark, duck, strict=True)):
        if s.keys() != d.keys():
            return [f"columns differ: {list(s)} vs {list(d)}"]
        found += [f"row {i} {c}: {s[c]!r} vs {d[c]!r}" for c in s if not equal_values(s[c], d[c])]
    return found


def build_args(*args: str):
    """dbt build arguments for one Spark refresh, in place of the engine's own."""
    return lambda settings: list(args)


def lake_state(spark: Path, lake: Path) -> dict:
    return {
        "raw": file_digests(lake / "raw"),
        "lake_marts": file_digests(lake / "marts"),
        "marts": mart_digests(spark / "engagement.duckdb"),
        "serving": hashlib.sha256((spark / "serving.duckdb").read_bytes()).hexdigest(),
    }


def materialize_first_backfill(start, end):
    """Every raw stream and the incremental models with their parents, as a Dagster selection runs them."""
    from dagster_project.definitions import defs

    incremental = build_dbt_asset_selection([transform.engagement_dbt_models], dbt_select="+config.materialized:incremental")
    raw = dg.AssetSelection.assets(*(key for asset in ingestion_assets() for key in asset.keys))
    with pytest.MonkeyPatch.context() as mp:  # their data tests run in the second refresh, on all the data
        mp.setattr(transform, "dbt_build_args", build_args("--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"))
        return dg.materialize(list(defs.assets), selection=raw | incremental, resources=defs.resources,
                              tags=range_tags(start, end), raise_on_error=False)


@pytest.fixture(scope="module")
def engines(world, refreshed_world, tmp_path_factory):
    root = tmp_path_factory.mktemp("engines")
    middle = world.start + timedelta(days=10)
    second_window = (middle + timedelta(days=4), world.end)
    spark = root / "spark"
    lake = spark / "lake"
    with SandboxServer(world) as sandbox, pytest.MonkeyPatch.context() as mp:
        point_pipeline_at(mp, sandbox, spark)
        mp.setenv("ENGAGEMENT_ENGINE", "spark")
        mp.setenv("ENGAGEMENT_LAKE", str(lake))
        first = materialize_first_backfill(world.start, middle)
        assert first.success
        assert transform.dbt_build_args is engine.dbt_build_args  # the second refresh runs as the pipeline does
        second = run_refresh(*second_window)
        assert second.success and second.published, second.failures
        after_second = lake_state(spark, lake) | {"rows": mart_rows(spark / "serving.duckdb")}

        def failing_publish(*args, **kwargs):
            raise OSError("No space left on device (injected)")

        # the second window again: every model rebuilt from scratch, unit tests included; publish fails
        with pytest.MonkeyPatch.context() as failing:
            failing.setattr(publish_asset, "publish_snapshot", failing_publish)
            failing.setattr(transform, "dbt_build_args", build_args("--full-refresh", "--exclude-resource-type", "test"))
            rerun = run_refresh(*second_window)
        yield {
            "sandbox": sandbox, "duckdb_serving": refreshed_world / "serving.duckdb", "spark": spark, "lake": lake,
            "after_second": after_second, "rerun": rerun, "after_rerun": lake_state(spark, lake),
        }


def test_an_exported_dbt_target_never_redirects_a_refresh(monkeypatch):
    """DBT_TARGET=serving is for MetricFlow's read-only queries: the resource pins dev, the engine picks the rest."""
    monkeypatch.setenv("DBT_TARGET", "serving")
    env = {"ENGAGEMENT_PII_SALT": "s", "ENGAGEMENT_SOURCES": "hubspot", "HUBSPOT_ACCESS_TOKEN": "t"}
    assert transform.dbt_resource().target == "dev" == engine.dbt_target(load_settings(env))
    assert engine.dbt_target(load_settings({**env, "ENGAGEMENT_ENGINE": "spark"})) == "spark"


def test_every_spark_mart_equals_duckdb_row_for_row(engines):
    duck = mart_rows(engines["duckdb_serving"])
    spark = engines["after_second"]["rows"]
    table = {mart: (len(duck[mart]), not differences(spark[mart], duck[mart])) for mart in MARTS}
    print("\nmart | rows | equal\n" + "\n".join(f"{m} | {n} | {eq}" for m, (n, eq) in table.items()))
    assert {m: differences(spark[m], duck[m])[:5] for m in MARTS} == {m: [] for m in MARTS}
    assert all(rows for rows, _ in table.values())


def test_spark_marts_equal_the_world_truth(engines, world):
    pipeline = {"sandbox": engines["sandbox"], "warehouse": engines["spark"] / "engagement.duckdb",
                "serving": engines["spark"] / "serving.duckdb"}
    e2e.test_campaign_engaged_users_equal_the_world_truth_in_warehouse_and_snapshot(pipeline, world)
    e2e.test_web_email_and_social_daily_marts_equal_the_world(pipeline, world)
    e2e.test_reconciliation_holds_each_linkedin_post_to_its_latest_counters(pipeline, world)
    e2e.test_ratios_sit_beside_their_parts_unrounded_and_missing_metrics_are_null(pipeline)


def test_the_snapshot_has_the_same_schema_whatever_the_engine(engines):
    query = "select table_name, column_name, data_type from information_schema.columns order by all"
    with duckdb.connect(str(engines["duckdb_serving"]), read_only=True) as con:
        duck = con.execute(query).fetchall()
    with duckdb.connect(str(engines["spark"] / "serving.duckdb"), read_only=True) as con:
        spark = con.execute(query).fetchall()
    assert spark == duck


def test_the_published_marts_are_parquet_in_the_lake_equal_to_the_snapshot(engines):
    lake_marts = engines["lake"] / "marts"
    assert lake_marts.is_symlink()  # swapped in whole
    serving = engines["spark"] / "serving.duckdb"
    with duckdb.connect(str(serving), read_only=True) as con:
        for mart, grain in MARTS.items():
            in_snapshot = con.execute(f"select * from marts.{mart} order by {grain}").fetchall()
            in_lake = con.execute(f"select * from read_parquet('{lake_marts / mart}.parquet') order by {grain}").fetchall()
            assert in_lake == in_snapshot, mart
    assert sorted(p.stem for p in lake_marts.glob("*.parquet")) == sorted([*MARTS, "snapshot_info"])


def test_raw_streams_land_as_parquet_partitioned_by_date(engines):
    raw = engines["lake"] / "raw"
    streams = sorted(str(p.relative_to(raw)) for p in raw.glob("*/[!.]*"))  # not the version folders
    assert len(streams) == sum(len(source.streams) for source in SOURCES)
    assert all((raw / s).is_symlink() for s in streams)
    days = sorted(p.name for p in (raw / "ga4" / "campaign_daily").iterdir())
    assert days[0].startswith("date=") and len(days) >= 28


def test_a_full_refresh_rerun_equals_the_incremental_marts_and_rewrites_no_parquet(engines):
    rerun, before, after = engines["rerun"], engines["after_second"], engines["after_rerun"]
    assert [f.split(":")[0] for f in rerun.failures] == ["publish"]  # dbt (every unit test included) passed on Spark
    assert after["raw"] == before["raw"]  # same bytes, never rewritten (same modification times)
    assert after["marts"] == before["marts"]


def test_a_failed_spark_run_leaves_the_snapshot_and_the_lake_marts(engines):
    rerun, before, after = engines["rerun"], engines["after_second"], engines["after_rerun"]
    assert not rerun.success and "injected" in rerun.failures[0]
    assert after["serving"] == before["serving"]
    assert after["lake_marts"] == before["lake_marts"]
