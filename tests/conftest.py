"""Shared fixtures: every test talks only to a sandbox it starts itself on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from filelock import FileLock

from connectors.http import RetryPolicy
from connectors.sandbox.faults import page_bounds
from connectors.sandbox.server import Response, SandboxServer, route
from connectors.sandbox.world import World, WorldConfig

# Tests run many refreshes a minute against one sandbox (real runs are a day apart): X's 15-minute
# rate windows shrink to 3 s, with X's limits per window, so a spent window costs seconds, not minutes.
os.environ.setdefault("ENGAGEMENT_SANDBOX_RATE_WINDOW_SECONDS", "3")

# A generic paged endpoint for testing the shared HTTP and fault machinery without any one API.
ITEMS = [{"id": str(i), "value": i} for i in range(10)]


@route("GET", r"/_probe/items", "probe.items")
def _items(req):
    offset = page_bounds(req.fault("overlap"), int(req.arg("offset", "0")))
    return Response(200, {"items": [dict(x) for x in ITEMS[offset: offset + 5]], "total_items": len(ITEMS)}, records_key="items")


# No module order is imposed: xdist's default hands out the modules with the most tests first, and a
# longest-first order (the soak beside Spark) measured slower, 17-18 min against 16 (benchmarks/README.md, section 5).


@pytest.fixture(autouse=True)
def no_project_dot_env(monkeypatch):
    """The CLI fills in variables from the project's .env; a developer's own .env must not change what a test sees."""
    monkeypatch.setattr("dagster_project.cli.load_project_env", lambda *args, **kwargs: [])


@pytest.fixture(scope="session")
def world() -> World:
    """The default small world (S scale): deterministic for seed 7."""
    return World(WorldConfig(seed=7, people=300, days=28))


@pytest.fixture
def sandbox(world):
    """A fresh server per test, so faults and request counts never leak between tests."""
    with SandboxServer(world, extra_routes=(_items,)) as server:
        yield server


@pytest.fixture
def fast_retries() -> RetryPolicy:
    """Real retry behaviour with short sleeps, so fault tests stay quick."""
    return RetryPolicy(total=4, backoff_factor=0.05, backoff_max=0.2, max_wait=5.0, jitter=0.01)


@pytest.fixture(scope="session")
def dbt_manifest():
    """A fresh checkout has no dbt manifest: prepare it the way `make setup` does."""
    from dagster_project.lib.dbt_manifest import ensure_manifest

    return ensure_manifest()


@pytest.fixture(scope="session")
def refreshed_world(world, tmp_path_factory, dbt_manifest) -> Path:
    """One fault-free refresh of the world's whole window, for every module that only needs its result.
    Shared by all workers: open it read-only or copy it (`copy_refresh`), never write to it."""
    return shared_refresh(tmp_path_factory, "refreshed_world", world)


def shared_refresh(tmp_path_factory: pytest.TempPathFactory, name: str, world: World) -> Path:
    """A folder holding one fault-free refresh of `world`'s whole window (engagement.duckdb, serving.duckdb),
    made once per test session: the first xdist worker to ask builds it under a file lock, the others wait
    for it and reuse it. Each whole refresh costs 15-50 s of fixed Dagster and dbt work on a small world."""
    from dagster_project.cli import run_refresh

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's folder, above each worker's own
    root, done = base / name, base / f"{name}.done"
    with FileLock(str(base / f"{name}.lock")):
        if not done.exists():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir()
            with SandboxServer(world) as sandbox, pytest.MonkeyPatch.context() as mp:
                point_pipeline_at(mp, sandbox, root)
                report = run_refresh(world.start, world.end)
            assert report.success, report.failures
            done.write_text(report.run_id)
    return root


def copy_refresh(source: Path, destination: Path) -> Path:
    """A private copy of a shared refresh's warehouse and snapshot, for tests that refresh again or open a writer."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in ("engagement.duckdb", "serving.duckdb"):
        shutil.copy(source / name, destination / name)
    return destination


def point_pipeline_at(monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer, root) -> None:
    """Environment for a whole refresh against `sandbox`, with the warehouse and snapshot under `root`."""
    for key, value in sandbox.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ENGAGEMENT_WAREHOUSE", str(root / "engagement.duckdb"))
    monkeypatch.setenv("ENGAGEMENT_SERVING", str(root / "serving.duckdb"))
    monkeypatch.setenv("ENGAGEMENT_LOOKBACK_DAYS", "7")
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
