"""A refresh killed with SIGKILL at any stage loses nothing, and the snapshot is never half-written.

`engagement refresh` runs as a subprocess (dbt is its child: the whole process group is killed)
and is killed while fetching, inside the raw merge transaction, while dbt builds, while the new
snapshot file is written, and after it is complete but before the swap. A watcher opens the
serving file read-only every few milliseconds throughout: every open must find the previous
complete snapshot. Then one clean re-run must leave the warehouse and the snapshot equal to a
clean run's, with no temporary file left behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from connectors.registry import SOURCES
from connectors.sandbox.faults import FaultRule
from connectors.sandbox.server import SandboxServer
from dagster_project.lib.crash_points import PAUSE_VARIABLE
from tests.reliability.conftest import file_sha256, snapshot_digests, table_digests

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]


class SnapshotWatcher(threading.Thread):
    """Opens the serving file read-only in a loop; records which snapshot each open saw, and any error."""

    def __init__(self, serving: Path):
        super().__init__(daemon=True)
        self.serving, self.stop, self.seen, self.errors, self.opens = serving, threading.Event(), set(), [], 0

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                con = duckdb.connect(str(self.serving), read_only=True)
                try:
                    self.seen.add(con.execute("select snapshot_id from marts.snapshot_info").fetchone()[0])
                    con.execute("select count(*) from marts.fct_campaign_engaged_users").fetchone()
                finally:
                    con.close()
                self.opens += 1
            except Exception as exc:  # noqa: BLE001 - any failure to read is what we count
                self.errors.append(repr(exc))
            time.sleep(0.005)


def dbt_is_building() -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(b"/dbt") for a in args) and b"build" in args:
            return True
    return False


def wait_for(condition, what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"the refresh never reached {what}")
        time.sleep(0.01)


def snapshot_id(serving: Path) -> str:
    with duckdb.connect(str(serving), read_only=True) as con:
        return con.execute("select snapshot_id from marts.snapshot_info").fetchone()[0]


def test_sigkill_at_every_stage_then_a_rerun_equals_a_clean_run(small_world, clean_run, tmp_path):
    warehouse, serving = tmp_path / "engagement.duckdb", tmp_path / "serving.duckdb"
    shutil.copy(clean_run["serving"], serving)  # the snapshot BI tools already read
    serving.chmod(0o444)
    old_sha, old_id = file_sha256(serving), snapshot_id(serving)
    args = [sys.executable, "-m", "dagster_project.cli", "refresh", "--start", str(small_world.start), "--end", str(small_world.end)]

    with SandboxServer(small_world) as sandbox:
        env = {**os.environ, **sandbox.env(), "ENGAGEMENT_WAREHOUSE": str(warehouse), "ENGAGEMENT_SERVING": str(serving),
               "ENGAGEMENT_SOURCES": ",".join(s.name for s in SOURCES), "ENGAGEMENT_LOOKBACK_DAYS": "7"}
        env.pop("DAGSTER_HOME", None)

        def fetching() -> bool:
            return sandbox.requests["mailchimp.email_activity"] > 0  # its first answer is held back for 60 s

        def marker(name: str, near: Path):
            return lambda: Path(f"{near}.paused-{name}").exists()

        def new_file_written() -> bool:
            return any(p.stat().st_size > 0 for p in tmp_path.glob("serving.duckdb.new-*"))

        kills = [  # (stage, pause point or None, condition to kill at)
            ("fetch", None, fetching),
            ("raw merge transaction", "raw_merge", marker("raw_merge", warehouse)),
            ("dbt build", None, lambda: dbt_is_building() and (time.sleep(1.5) or True)),
            ("publish, writing the new file", None, new_file_written),
            ("publish, complete but not swapped", "publish_swap", marker("publish_swap", serving)),
        ]
        watcher = SnapshotWatcher(serving)
        watcher.start()
        killed = []
        for stage, pause, reached in kills:
            sandbox.faults.clear()
            if stage == "fetch":
                sandbox.faults.add(FaultRule("mailchimp.email_activity", "slow", seconds=60))
            run_env = {**env, PAUSE_VARIABLE: pause} if pause else env
            proc = subprocess.Popen(args, env=run_env, cwd=REPO, start_new_session=True,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_for(lambda: reached() or proc.poll() is not None, stage)  # noqa: B023 - evaluated in the loop
                assert proc.poll() is None, f"the refresh finished before it could be killed at {stage}"
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                killed.append(stage)
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
            for mark in tmp_path.glob("*.paused-*"):
                mark.unlink()
            # after every kill: the old snapshot, byte for byte, and a warehouse that opens
            assert file_sha256(serving) == old_sha, stage
            duckdb.connect(str(warehouse)).close()

        sandbox.faults.clear()
        rerun = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
        watcher.stop.set()
        watcher.join()

    print(f"kills: {len(killed)} ({', '.join(killed)}); snapshot opens by the watcher: {watcher.opens}, errors: {len(watcher.errors)}")
    assert killed == [stage for stage, _, _ in kills]
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert watcher.errors == []
    assert watcher.opens > 100
    new_id = snapshot_id(serving)
    assert watcher.seen <= {old_id, new_id} and old_id in watcher.seen
    assert table_digests(warehouse) == clean_run["warehouse_digests"]
    assert snapshot_digests(serving) == clean_run["snapshot_digests"]
    assert list(tmp_path.glob("serving.duckdb.new-*")) == []
    assert not Path(f"{serving}.wal").exists()
