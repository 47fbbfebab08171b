"""GA4 reports that are sampled or truncated: the facts reach asset metadata and fail a warn-severity
asset check (the run still succeeds), never silently trusted. One GA4 stream, one day, a sandbox each."""

from __future__ import annotations

import json
from datetime import timedelta

import dagster as dg
import duckdb
import pytest

from connectors.ga4 import CAMPAIGN_DAILY, Ga4Client
from connectors.sandbox import api_ga4, truth
from connectors.sandbox.server import SandboxServer
from dagster_project.defs.ingestion import COMPLETE_FIGURES_CHECK, build_ingestion_asset
from dagster_project.defs.resources import EngagementSettings
from tests.conftest import point_pipeline_at


def load_one_day(world, root, monkeypatch, day) -> tuple[dg.ExecuteInProcessResult, list[tuple]]:
    asset = build_ingestion_asset(CAMPAIGN_DAILY, Ga4Client.UNTRUSTED_FACTS)
    with SandboxServer(world) as sandbox:
        point_pipeline_at(monkeypatch, sandbox, root)
        result = dg.materialize([asset], partition_key=day.isoformat(), resources={"engagement": EngagementSettings()})
    with duckdb.connect(str(root / "engagement.duckdb"), read_only=True) as con:
        sessions = con.execute("select date, sum(sessions) from raw_ga4.campaign_daily group by date order by date").fetchall()
    return result, sessions


def check_of(result: dg.ExecuteInProcessResult):
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == COMPLETE_FIGURES_CHECK
    return evaluation


def test_a_complete_unsampled_report_passes_the_check(world, tmp_path, monkeypatch):
    day = world.start + timedelta(days=10)
    result, sessions = load_one_day(world, tmp_path, monkeypatch, day)
    assert result.success and check_of(result).passed
    metadata = result.asset_materializations_for_node("raw_ga4__campaign_daily")[0].metadata
    assert metadata["api_sampled"].value == "False" and "api_dataTruncationReasons" not in metadata
    # the run reads its day and the 7 lookback days before it
    daily = {}
    for (date, _), row in truth.web_engagement_daily(world).items():
        daily[date] = daily.get(date, 0) + row["sessions"]
    assert sessions == [(d, daily[d]) for d in sorted(daily) if day - timedelta(days=7) <= d <= day]


def test_a_truncated_and_sampled_report_fails_the_warn_check_and_the_run_still_succeeds(world, tmp_path, monkeypatch):
    day = world.start + timedelta(days=10)
    retention = day - timedelta(days=2)
    monkeypatch.setattr(api_ga4, "RETENTION_START", retention)
    monkeypatch.setattr(api_ga4, "SAMPLED", True)
    result, sessions = load_one_day(world, tmp_path, monkeypatch, day)
    assert result.success
    check = check_of(result)
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.WARN)
    truncation = json.dumps([{"dataTruncationDate": str(retention), "dataTruncationType": "DATA_TRUNCATION_TYPE_PROPERTY"}])
    sampling = '[{"samplesReadCount": "500000", "samplingSpaceSize": "2000000"}]'
    assert {k: v.value for k, v in check.metadata.items()} == {"dataTruncationReasons": truncation, "samplingMetadatas": sampling}
    metadata = result.asset_materializations_for_node("raw_ga4__campaign_daily")[0].metadata
    assert (metadata["api_dataTruncationReasons"].value, metadata["api_sampled"].value) == (truncation, "True")
    # GA4 left out the days before the property's retention date: only three days arrived
    assert [d for d, _ in sessions] == [retention, retention + timedelta(days=1), day]


@pytest.mark.parametrize("source, expected", [("ga4", ("samplingMetadatas", "dataTruncationReasons")), ("x", ())])
def test_only_sources_whose_api_can_flag_its_figures_get_the_check(source, expected):
    from connectors.registry import SOURCES

    declared = next(s for s in SOURCES if s.name == source)
    assert declared.client_class.UNTRUSTED_FACTS == expected
    spec = declared.streams[0]
    checks = list(build_ingestion_asset(spec, expected).check_specs)
    assert [c.name for c in checks] == ([COMPLETE_FIGURES_CHECK] if expected else [])
