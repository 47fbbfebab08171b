"""Prepare the dbt manifest that `@dbt_assets` reads at definition time.

A fresh checkout has none, and `DbtProject.prepare_if_dev()` only acts under `dagster dev`;
the Makefile, the CLI and the tests call `ensure_manifest()` before importing the definitions.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_models"
MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"


def _newest_source_mtime() -> float:
    files = [p for p in DBT_PROJECT_DIR.rglob("*") if p.suffix in {".sql", ".yml", ".yaml", ".csv"} and "target" not in p.parts]
    return max((p.stat().st_mtime for p in files), default=0.0)


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
