"""20 reader processes query the snapshot in a loop while three refreshes publish new ones.

Each refresh covers a longer window, so each snapshot's marts differ: an answer mixing two
snapshots would match none. Every answer (snapshot id + a checksum of two marts, read in one
connection) must equal exactly what one published snapshot holds, and no reader may fail.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from datetime import timedelta

import duckdb
import pytest

from connectors.sandbox.server import SandboxServer
from tests.conftest import point_pipeline_at

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

READERS = 20
ANSWER = """
    select (select snapshot_id from marts.snapshot_info),
           (select md5(string_agg(campaign_key || channel || engaged_users, ',' order by campaign_key, channel))
              from marts.fct_campaign_engaged_users),
           (select md5(string_agg(date || platform || post_id || total_interactions, ',' order by date, platform, post_id))
              from marts.fct_social_engagement_daily)
"""
READER = textwrap.dedent('''
    import json, os, sys, time
    import duckdb
    serving, stop, query = sys.argv[1], sys.argv[2], sys.argv[3]
    answers, errors = {}, []
    while not os.path.exists(stop):
        try:
            con = duckdb.connect(serving, read_only=True)
            try:
                key = json.dumps(con.execute(query).fetchone())
            finally:
                con.close()
            answers[key] = answers.get(key, 0) + 1
        except Exception as exc:
            errors.append(repr(exc))
        time.sleep(0.5)  # 20 of these on 2 cores: leave the refreshes room to run
    print(json.dumps({"answers": answers, "errors": errors}))
''')


def answer_of(serving) -> str:
    with duckdb.connect(str(serving), read_only=True) as con:
        return json.dumps(con.execute(ANSWER).fetchone())


def test_twenty_readers_during_three_publishes_get_only_whole_snapshots_and_no_errors(small_world, clean_run, tmp_path, monkeypatch):
    from dagster_project.cli import run_refresh

    serving, stop = tmp_path / "serving.duckdb", tmp_path / "stop"
    shutil.copy(clean_run["serving"], serving)
    serving.chmod(0o444)
    published = {answer_of(serving)}
    readers = [subprocess.Popen([sys.executable, "-c", READER, str(serving), str(stop), ANSWER], stdout=subprocess.PIPE, text=True)
               for _ in range(READERS)]
    try:
        with SandboxServer(small_world) as sandbox:
            point_pipeline_at(monkeypatch, sandbox, tmp_path)
            for days in (4, 7, 10):  # each window adds days of activity, so every snapshot differs
                report = run_refresh(small_world.start, small_world.start + timedelta(days=days))
                assert report.success, report.failures
                published.add(answer_of(serving))
                time.sleep(1)
    finally:
        stop.touch()
        outputs = [json.loads(r.communicate(timeout=60)[0]) for r in readers]

    answers: dict[str, int] = {}
    for out in outputs:
        for key, n in out["answers"].items():
            answers[key] = answers.get(key, 0) + n
    errors = [e for out in outputs for e in out["errors"]]
    print(f"{READERS} readers, {sum(answers.values())} answers, {len(errors)} errors, {len(published)} snapshots")
    assert len(published) == 4, "each refresh published a different snapshot"
    assert errors == []
    assert set(answers) <= published, "an answer matched no complete snapshot"
    assert len(answers) >= 3, "readers saw the snapshots change"
    assert all(sum(out["answers"].values()) > 10 for out in outputs)

