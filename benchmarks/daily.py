"""Daily refresh versus full rebuild, at 90 days of history.

A sandbox world with 90 days runs in its own process. `engagement refresh` (the real CLI, in a
subprocess, on a fresh warehouse) pulls all 90 days: the full rebuild. Then the same command
pulls what the 03:00 schedule pulls: yesterday, plus ENGAGEMENT_LOOKBACK_DAYS for activity,
plus reference data changed since the last run. Then the same daily window again: nothing new
to fetch. Each is timed end to end (wall, and the CPU seconds of the CLI process and its children,
which a shared machine disturbs far less), with dbt's own time from run_results.json, and the
daily run is reported as a share of the full one.

    python -m benchmarks.daily --scale 10
    python -m benchmarks daily --scale 10 --history 30,180   # does the daily run grow with history?

`--history` runs the three refreshes once per history length, each on its own world and warehouse,
and adds a table of each refresh's cost at the longest history over its cost at the shortest.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

from benchmarks.common import REPO_ROOT, machine, sandbox_process, table
from benchmarks.e2e import DBT_STEP
from connectors.registry import SOURCES
from connectors.sandbox.world import WorldConfig

DAYS = 90
SLOWEST = 8  # models listed per run in the report


def refresh(env: dict[str, str], start: date, end: date) -> dict:
    runs = Path(env["DBT_TARGET_PATH"])
    before = set(runs.glob(f"{DBT_STEP}-*/run_results.json"))
    began, cpu_before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([sys.executable, "-m", "dagster_project.cli", "refresh", "--start", str(start), "--end", str(end)],
                          env=env, cwd=REPO_ROOT, capture_output=True, text=True)
    seconds, cpu_after = time.perf_counter() - began, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime
    if proc.returncode != 0:
        raise RuntimeError(f"refresh [{start}, {end}) failed: {proc.stderr.strip().splitlines()[-1:]}")
    new = set(runs.glob(f"{DBT_STEP}-*/run_results.json")) - before
    skipped = "nothing new:" in proc.stdout  # the inputs of the published snapshot: dbt never started
    if len(new) != (0 if skipped else 1):
        raise RuntimeError(f"expected {0 if skipped else 1} new dbt run_results.json under {runs}, found {len(new)}")
    dbt_seconds, slowest = 0.0, []
    if new:
        run_dir = new.pop().parent
        results = json.loads((run_dir / "run_results.json").read_text())
        dbt_seconds = results.get("elapsed_time", 0.0)
        slowest = sorted(((r["unique_id"].split(".")[-1], float(r.get("execution_time") or 0.0)) for r in results["results"]
                          if r["unique_id"].startswith("model.")), key=lambda nt: -nt[1])[:SLOWEST]
        shutil.rmtree(run_dir, ignore_errors=True)
    fetched = sum(int(line.split()[1]) for line in proc.stdout.splitlines()
                  if line[:1].isalpha() and "." in line.split()[0] and len(line.split()) == 7 and line.split()[1].isdigit())
    return {"seconds": seconds, "cpu_seconds": cpu, "dbt_seconds": dbt_seconds, "fetched": fetched, "slowest": slowest,
            "dbt_skipped": skipped}


def run(scale: float = 10.0, seed: int = 7, quiet: bool = False, days: int = DAYS, history: str | None = None) -> dict:
    """One 90-day (or `days`) world; with `history` ("30,180"), one world per length and the growth table."""
    if history:
        lengths = [int(d) for d in str(history).split(",") if d.strip()]
        if len(lengths) < 2:
            raise ValueError(f"--history needs two or more day counts, like 30,180; got {history!r}")
        results = {d: run(scale, seed, quiet=True, days=d) for d in lengths}
        if not quiet:
            print(history_report(results))
        return {"history": results}
    start = WorldConfig().start
    end = start + timedelta(days=days)
    with sandbox_process(scale, seed=seed, days=days) as sandbox, tempfile.TemporaryDirectory(prefix="bench-daily-") as tmp:
        env = {**os.environ, **sandbox.env, "ENGAGEMENT_WAREHOUSE": f"{tmp}/engagement.duckdb",
               "ENGAGEMENT_SERVING": f"{tmp}/serving.duckdb", "ENGAGEMENT_SOURCES": ",".join(s.name for s in SOURCES),
               "ENGAGEMENT_LOOKBACK_DAYS": "7"}
        env.pop("DAGSTER_HOME", None)
        env["DBT_TARGET_PATH"] = f"{tmp}/dbt_runs"  # this benchmark's dbt run folders, apart from any other run's
        full = refresh(env, start, end)
        daily = refresh(env, end - timedelta(days=1), end)
        nothing_new = refresh(env, end - timedelta(days=1), end)  # the same day again: every page as before
        with duckdb.connect(f"{tmp}/engagement.duckdb", read_only=True) as con:
            raw_rows = sum(con.execute(f'select count(*) from "{s}"."{t}"').fetchone()[0] for s, t in con.execute(
                "select table_schema, table_name from information_schema.tables where table_schema like 'raw_%'").fetchall())
    result = {"scale": scale, "seed": seed, "days": days, "raw_rows": raw_rows, "full": full, "daily": daily,
              "nothing new": nothing_new, "share": daily["seconds"] / full["seconds"],
              "cpu_share": daily["cpu_seconds"] / full["cpu_seconds"], "dbt_share": daily["dbt_seconds"] / full["dbt_seconds"]}
    if not quiet:
        print(report(result))
    return result


def report(r: dict) -> str:
    rows = [[name, f"{r[name]['fetched']:,}", f"{r[name]['seconds']:.1f}", f"{r[name]['cpu_seconds']:.1f}",
             "skipped" if r[name].get("dbt_skipped") else f"{r[name]['dbt_seconds']:.1f}"] for name in ("full", "daily", "nothing new")]
    rows.append(["daily / full", "", f"{r['share']:.0%}", f"{r['cpu_share']:.0%}", f"{r['dbt_share']:.0%}"])
    return "\n".join([f"machine: {machine()}",
                      f"{r['days']} days of history, scale {r['scale']} (seed {r['seed']}), {r['raw_rows']:,} raw rows stored", "",
                      table(["refresh", "records fetched", "wall s", "CPU s", "dbt build s"], rows), "",
                      "slowest dbt models (s)", "",
                      table(["full", "s", "daily", "s"], [[f, f"{fs:.2f}", d, f"{ds:.2f}"] for (f, fs), (d, ds)
                                                         in zip(r["full"]["slowest"], r["daily"]["slowest"], strict=True)])])


def history_report(results: dict[int, dict]) -> str:
    """Each refresh at every history length, and the longest over the shortest (flat would be 1.0)."""
    lengths = sorted(results)
    short, long = results[lengths[0]], results[lengths[-1]]
    rows = []
    for name in ("full", "daily", "nothing new"):
        rows.append([name, *(f"{results[d][name]['seconds']:.1f} / {results[d][name]['cpu_seconds']:.1f}" for d in lengths),
                     f"{long[name]['seconds'] / short[name]['seconds']:.2f}", f"{long[name]['cpu_seconds'] / short[name]['cpu_seconds']:.2f}"])
    return "\n".join([f"machine: {machine()}", f"scale {short['scale']} (seed {short['seed']}); raw rows stored: "
                      + ", ".join(f"{d} days {results[d]['raw_rows']:,}" for d in lengths), "",
                      table(["refresh", *(f"{d} days: wall s / CPU s" for d in lengths),
                             f"wall {lengths[-1]} / {lengths[0]} days", f"CPU {lengths[-1]} / {lengths[0]} days"], rows)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.daily", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument("--days", type=int, default=DAYS)
    parser.add_argument("--history", help="day counts to compare, like 30,180")
    args = parser.parse_args(argv)
    run(args.scale, days=args.days, history=args.history)


if __name__ == "__main__":
    main()
