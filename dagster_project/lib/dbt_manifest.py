"""Prepare the dbt manifest that `@dbt_assets` reads at definition time.

A fresh checkout has none, and `DbtProject.prepare_if_dev()` only acts under `dagster dev`;
the Makefile, the CLI and the tests call `ensure_manifest()` before importing the definitions.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_models"
MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"


SOURCE_SUFFIXES = (".sql", ".yml", ".yaml", ".csv")
NOT_SOURCES = {"target", "logs", "dbt_packages"}  # dbt's outputs: target/ alone holds one folder per run
KEPT_RUN_TARGETS = 20  # the newest dagster-dbt run folders kept under target/ (run_results.json, dbt.log)


def _newest_source_mtime() -> float:
    newest = 0.0
    for folder, subfolders, files in os.walk(DBT_PROJECT_DIR):
        if Path(folder) == DBT_PROJECT_DIR:
            subfolders[:] = [d for d in subfolders if d not in NOT_SOURCES]
        for name in files:
            if name.endswith(SOURCE_SUFFIXES):
                newest = max(newest, os.stat(os.path.join(folder, name)).st_mtime)
    return newest


def ensure_manifest(force: bool = False) -> Path:
    if force or not MANIFEST.exists() or MANIFEST.stat().st_mtime < _newest_source_mtime():
        dbt = Path(sys.executable).parent / "dbt"
        result = subprocess.run(
            [str(dbt), "parse", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR), "--quiet"],
            cwd=DBT_PROJECT_DIR, capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"dbt parse failed in {DBT_PROJECT_DIR}: {(result.stdout + result.stderr).strip()[-2000:]}")
    return MANIFEST


def keep_partial_parse(run_target: Path) -> None:
    """Make a finished run's parse state the one the next run starts from.

    dagster-dbt gives each invocation its own target dir and seeds it with the project's
    partial_parse.msgpack. dbt discards that state whenever the profile differs (the warehouse path
    is part of it), so without this every scheduled run re-parses the whole project (~2 s).
    dbt still re-checks every file hash, so a stale copy is never used for changed files.
    """
    source = run_target / "partial_parse.msgpack"
    if not source.exists():
        return
    destination = MANIFEST.parent / source.name
    staged = destination.with_suffix(f".{os.getpid()}.tmp")
    shutil.copyfile(source, staged)
    os.replace(staged, destination)  # a concurrent reader sees the old file or the new one


def prune_run_targets(run_target: Path, keep: int = KEPT_RUN_TARGETS) -> None:
    """Keep the newest `keep` run folders dagster-dbt left under target/ and delete the rest.

    dagster-dbt gives every invocation its own folder (about 13 MB: manifest, compiled SQL, logs) and
    never deletes one, so a daily schedule would grow target/ without bound; a folder less than an
    ten minutes old is never touched, since a concurrent run may still be writing it.
    """
    step = run_target.name.split("-")[0]  # dagster-dbt names them <step>-<run id>-<random>
    runs = sorted((p for p in run_target.parent.glob(f"{step}-*") if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    cutoff = time.time() - 600
    for old in runs[keep:]:
        if old.stat().st_mtime < cutoff:
            shutil.rmtree(old, ignore_errors=True)
