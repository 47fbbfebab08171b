"""The backfill benchmark at a tiny scale, so it cannot rot: every contender loads the sandbox's rows
of every stream, within every API's limits, and the tables print."""

from __future__ import annotations

import pytest

from benchmarks import backfill

pytestmark = pytest.mark.slow


def test_every_contender_loads_the_sandboxs_rows_of_every_stream_within_the_limits_and_the_tables_print(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # dlt writes nothing outside its pipelines_dir; belt and braces
    printed: list[str] = []
    result = backfill.run(scale=0.05, latency_ms=5, days=14, out=printed.append, cool_down=0.5)
    # run() compares each contender's rows per table with the sandbox's before it keeps a time
    assert len(result.reference) == 25 and sum(result.reference.values()) > 1_000
    assert {r.contender for r in result.runs} == set(backfill.CONTENDERS)
    for run in result.runs:
        assert run.rows == result.reference, run.contender
        assert run.violations == [], run.contender
        assert run.seconds > 0
    assert {b.api for b in result.bounds} == {"ga4", "mailchimp", "x", "facebook", "linkedin", "hubspot"}
    assert result.limit == max(b.seconds for b in result.bounds) > 0
    (text,) = printed
    for line in ("Latency limit", "ours-dagster", "dlt", "longest chain", "within every limit"):
        assert line in text
