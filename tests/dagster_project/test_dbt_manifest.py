"""dbt's run folders under target/ stay bounded, and the manifest freshness check never walks them."""

from __future__ import annotations

import os
import time

from dagster_project.lib import dbt_manifest


def make_runs(root, prefix: str, count: int, age_seconds: float) -> list[str]:
    now, names = time.time(), []
    for i in range(count):  # the first is the newest
        folder = root / f"engagement_dbt_models-{prefix}{i:05d}-abc"
        (folder / "compiled").mkdir(parents=True)
        (folder / "run_results.json").write_text("{}")
        os.utime(folder, (now - age_seconds - i, now - age_seconds - i))
        names.append(folder.name)
    return names


def test_only_the_newest_run_folders_are_kept_and_other_folders_never_touched(tmp_path):
    old = make_runs(tmp_path, "o", 25, age_seconds=3600)
    (tmp_path / "docs").mkdir()
    os.utime(tmp_path / "docs", (0, 0))
    dbt_manifest.prune_run_targets(tmp_path / old[0], keep=20)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["docs", *old[:20]])


def test_a_run_folder_younger_than_ten_minutes_is_never_deleted(tmp_path):
    young = make_runs(tmp_path, "y", 22, age_seconds=60)  # concurrent runs may still be writing these
    old = make_runs(tmp_path, "o", 5, age_seconds=3600)
    dbt_manifest.prune_run_targets(tmp_path / young[0], keep=20)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(young)
    assert not any((tmp_path / name).exists() for name in old)


def test_the_freshness_check_sees_a_changed_model_and_ignores_run_outputs(tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.sql").write_text("select 1")
    (tmp_path / "target" / "run-1").mkdir(parents=True)
    (tmp_path / "target" / "run-1" / "m.sql").write_text("select 1")
    os.utime(tmp_path / "models" / "m.sql", (1000, 1000))
    os.utime(tmp_path / "target" / "run-1" / "m.sql", (5000, 5000))
    monkeypatch.setattr(dbt_manifest, "DBT_PROJECT_DIR", tmp_path)
    assert dbt_manifest._newest_source_mtime() == 1000


def test_each_warehouse_starts_from_its_own_parse_state(tmp_path, monkeypatch):
    """dbt drops a parse state made under another profile: a run on warehouse B must not spoil A's."""
    monkeypatch.setattr(dbt_manifest, "MANIFEST", tmp_path / "target" / "manifest.json")
    monkeypatch.setattr(dbt_manifest, "PARSE_STATES", tmp_path / "target" / "parse_states")
    for warehouse, state in (("/a/engagement.duckdb", b"state of A"), ("/b/engagement.duckdb", b"state of B")):
        finished = dbt_manifest.run_target("engagement_dbt_models", "0123456789", warehouse)
        assert not (finished / "partial_parse.msgpack").exists()  # nothing kept yet for this warehouse
        (finished / "partial_parse.msgpack").write_bytes(state)
        dbt_manifest.keep_partial_parse(finished, warehouse)

    next_a = dbt_manifest.run_target("engagement_dbt_models", "abcdefabcdef", "/a/engagement.duckdb")
    assert next_a.name.startswith("engagement_dbt_models-abcdefa-")
    assert (next_a / "partial_parse.msgpack").read_bytes() == b"state of A"
    assert (tmp_path / "target" / "partial_parse.msgpack").read_bytes() == b"state of B"  # the newest, for dbt by hand
