"""The ingestion benchmark at a tiny scale, so it cannot rot: every contender loads every row."""

from __future__ import annotations

import pytest

from benchmarks.ingest import CONTENDERS, report, run

pytestmark = pytest.mark.slow


def test_every_contender_loads_exactly_the_sandboxs_activity_rows_and_the_table_prints(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # dlt writes nothing outside its pipelines_dir; belt and braces
    result = run(records=2_000, repeats=1, quiet=True)
    assert result.records > 1_000
    (timings,) = result.rounds
    assert set(timings) == set(CONTENDERS)
    assert {rows for rows, _ in timings.values()} == {result.records}  # run() also checks each against the sandbox
    text = report(result, CONTENDERS)
    for line in ("ours / dlt-parquet", "ours / dlt-default", "ours / floor", f"{result.records:,}"):
        assert line in text
