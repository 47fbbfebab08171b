"""The ingestion benchmark at a tiny scale, so it cannot rot: every contender loads every row."""

from __future__ import annotations

import pytest

from benchmarks.ingest import CONTENDERS, ENDPOINTS, report, run

pytestmark = pytest.mark.slow


def test_every_contender_loads_exactly_the_sandboxs_rows_of_both_endpoints_and_the_table_prints(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # dlt writes nothing outside its pipelines_dir; belt and braces
    results = run(records=2_000, repeats=1, quiet=True)
    assert set(results) == set(ENDPOINTS)
    text = report(results, CONTENDERS)
    for endpoint, result in results.items():
        assert result.records > 1_000, endpoint
        (timings,) = result.rounds
        assert set(timings) == set(CONTENDERS)
        # run() checks each count against the sandbox; at this size dlt-default's cap does not bite
        assert {rows for rows, _ in timings.values()} == {result.records}, endpoint
        (cpu,) = result.cpu  # this process's CPU per contender, never the sandbox's
        assert set(cpu) == set(CONTENDERS) and all(seconds > 0 for seconds in cpu.values()), cpu
        assert f"{result.records:,}" in text
    for line in ("Mailchimp email activity", "GA4 identified-user report", "ours / ours-dicts", "ours / dlt-parquet", "ours / dlt-default", "ours / floor", "ours / http-only",
                 "CPU seconds of the pipeline process alone", "CPU per row (pair by pair per round)"):
        assert line in text
