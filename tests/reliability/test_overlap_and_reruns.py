"""Overlapping pages and overlapping windows: no duplicate rows, and the same marts as one clean run.

Two refreshes, [d1, d8) then [d5, end), with every paged endpoint drifting its offsets (pages
repeat records of the page before), must leave exactly the warehouse and snapshot that one
fault-free refresh of [d1, end) leaves.
"""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pytest

from connectors.sandbox.faults import FaultRule
from connectors.sandbox.server import SandboxServer
from dagster_project.lib.clients import all_streams
from tests.conftest import point_pipeline_at
from tests.reliability.conftest import snapshot_digests, table_digests

pytestmark = pytest.mark.slow


def test_overlapping_windows_with_drifting_pages_equal_one_clean_run_without_a_duplicate(small_world, clean_run, tmp_path, monkeypatch):
    from dagster_project.cli import run_refresh
    from dagster_project.lib import clients

    build_client = clients.build_client

    def small_pages(*args, **kwargs):  # many pages even in a small world, so drift has pages to cross
        client = build_client(*args, **kwargs)
        client.page_size = 25
        return client

    monkeypatch.setattr(clients, "build_client", small_pages)
    monkeypatch.setenv("ENGAGEMENT_INGEST_PROCESS", "same")  # the patch lives in this process, not in a child
    start, end = small_world.start, small_world.end
    with SandboxServer(small_world) as sandbox:
        point_pipeline_at(monkeypatch, sandbox, tmp_path)
        sandbox.faults.add(FaultRule("*", "overlap", rows=2, times=None))
        first = run_refresh(start, start + timedelta(days=7))
        second = run_refresh(start + timedelta(days=4), end)
    assert first.success and second.success, first.failures + second.failures
    # the drift really happened: streams fetched repeated records, and wrote each once
    assert sum(s.records > s.written for s in first.streams) >= 5

    warehouse = tmp_path / "engagement.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for spec in all_streams():
            keys = ", ".join(spec.primary_key)
            rows, distinct = con.execute(
                f"select count(*), (select count(*) from (select distinct {keys} from {spec.table})) from {spec.table}").fetchone()
            assert rows == distinct, f"{spec.table} has duplicate keys"  # DISTINCT treats NULLs as equal
    assert table_digests(warehouse) == clean_run["warehouse_digests"]
    assert snapshot_digests(tmp_path / "serving.duckdb") == clean_run["snapshot_digests"]


def test_rerunning_the_same_window_writes_nothing_and_changes_no_mart(small_world, clean_run, tmp_path, monkeypatch):
    import shutil

    from dagster_project.cli import run_refresh

    shutil.copy(clean_run["warehouse"], tmp_path / "engagement.duckdb")
    with SandboxServer(small_world) as sandbox:
        point_pipeline_at(monkeypatch, sandbox, tmp_path)
        report = run_refresh(small_world.start, small_world.end)
    assert report.success, report.failures
    assert sum(s.written for s in report.streams) == 0
    assert table_digests(tmp_path / "engagement.duckdb") == clean_run["warehouse_digests"]
    assert snapshot_digests(tmp_path / "serving.duckdb") == clean_run["snapshot_digests"]
