"""Prepare the dbt manifest that `@dbt_assets` reads at definition time.

A fresh checkout has none, and `DbtProject.prepare_if_dev()` only acts under `dagster dev`;
the Makefile, the CLI and the tests call `ensure_manifest()` before importing the definitions.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_models"
MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"


SOURCE_SUFFIXES = (".sql", ".yml", ".yaml", ".csv")
NOT_SOURCES = {"target", "logs", "dbt_packages"}  # dbt's outputs: target/ alone holds one folder per run
KEPT_RUN_TARGETS = 20  # the newest dagster-dbt run folders kept under target/ (run_results.json, dbt.log)
PARTIAL_PARSE = "partial_parse.msgpack"
PARSE_STATES = MANIFEST.parent / "parse_states"  # one partial-parse state per warehouse path
KEPT_PARSE_STATES = 20


def _source_files() -> list[Path]:
    """The dbt project's own files (models, macros, tests, seeds, its YAML), without dbt's outputs."""
    found = []
    for folder, subfolders, files in os.walk(DBT_PROJECT_DIR):
        if Path(folder) == DBT_PROJECT_DIR:
            subfolders[:] = [d for d in subfolders if d not in NOT_SOURCES]
        found += [Path(folder) / name for name in files if name.endswith(SOURCE_SUFFIXES)]
    return sorted(found)


def _newest_source_mtime() -> float:
    return max((path.stat().st_mtime for path in _source_files()), default=0.0)


def project_digest() -> str:
    """A digest of every dbt source file's path and content: what `dbt build` will compile now, whatever
    the manifest the definitions were loaded from."""
    digest = hashlib.sha256()
    for path in _source_files():
        digest.update(str(path.relative_to(DBT_PROJECT_DIR)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def ensure_manifest(force: bool = False) -> Path:
    if force or not MANIFEST.exists() or MANIFEST.stat().st_mtime < _newest_source_mtime():
        dbt = Path(sys.executable).parent / "dbt"
        result = subprocess.run(
            [str(dbt), "parse", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
             "--target-path", str(MANIFEST.parent), "--quiet"],
            cwd=DBT_PROJECT_DIR, capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"dbt parse failed in {DBT_PROJECT_DIR}: {(result.stdout + result.stderr).strip()[-2000:]}")
    return MANIFEST


def run_target(step: str, run_id: str, warehouse: str) -> Path:
    """A dbt invocation's own target folder, named as dagster-dbt names them, seeded with the parse state of the
    last run on the same warehouse.

    dbt discards its partial-parse state whenever the profile differs, and the warehouse path is part of the
    profile: runs on other warehouses (a demo beside the schedule, tests in parallel) must not overwrite it,
    so each warehouse keeps its own. Without it every run re-parses the whole project (~2 s). dbt still
    re-checks every file hash, so a stale state is never used for a changed file.
    """
    runs = Path(os.environ.get("DBT_TARGET_PATH") or MANIFEST.parent)  # dagster-dbt's own rule for where run folders go
    target = (runs if runs.is_absolute() else DBT_PROJECT_DIR / runs) / f"{step}-{run_id[:7]}-{uuid.uuid4().hex[:7]}"
    target.mkdir(parents=True)
    state = _parse_state(warehouse)
    if state.exists():  # dagster-dbt then leaves it alone (it seeds only a folder without one)
        shutil.copyfile(state, target / PARTIAL_PARSE)
    return target


def keep_partial_parse(run_target: Path, warehouse: str) -> None:
    """Make a finished run's parse state the one the next run on this warehouse starts from."""
    source = run_target / PARTIAL_PARSE
    if not source.exists():
        return
    for destination in (_parse_state(warehouse), MANIFEST.parent / PARTIAL_PARSE):  # the second: dbt run by hand
        destination.parent.mkdir(parents=True, exist_ok=True)
        staged = destination.with_suffix(f".{os.getpid()}.tmp")
        shutil.copyfile(source, staged)
        os.replace(staged, destination)  # a concurrent reader sees the old file or the new one
    states = sorted(PARSE_STATES.glob("*.msgpack"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in states[KEPT_PARSE_STATES:]:
        old.unlink(missing_ok=True)


def _parse_state(warehouse: str) -> Path:
    return PARSE_STATES / f"{hashlib.sha256(warehouse.encode()).hexdigest()[:16]}.msgpack"


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
