"""Shared pieces of the benchmarks: a sandbox in its own process, machine facts, figures.

The sandbox runs in a separate process so its world (held in memory to answer the APIs) never
counts towards the pipeline's memory, and its JSON encoding never competes for the GIL.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# raw records the sandbox serves per 1.0 of scale (1,000 people, 28 days), all streams together;
# measured on seed 7 (see benchmarks/README.md); used to pick a scale for a target record count
RECORDS_PER_SCALE_28_DAYS = 18_250


@dataclass
class Sandbox:
    url: str
    env: dict[str, str]
    process: subprocess.Popen


@contextmanager
def sandbox_process(scale: float, seed: int = 7, days: int = 28, timeout: float = 900,
                    latency_ms: float = 0.0) -> Iterator[Sandbox]:
    """`engagement sandbox` on a free loopback port, in its own process; yields its URL and env."""
    # benchmarks repeat refreshes within minutes where real runs are a day apart: X's rate windows
    # shrink to seconds (same calls per window), so pacing does not dominate the timings
    env = {**os.environ, "ENGAGEMENT_SANDBOX_RATE_WINDOW_SECONDS": os.environ.get("ENGAGEMENT_SANDBOX_RATE_WINDOW_SECONDS", "3")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dagster_project.cli", "sandbox", "--port", "0",
         "--scale", str(scale), "--seed", str(seed), "--days", str(days), "--latency-ms", str(latency_ms)],
        stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT, env=env,
    )
    try:
        env: dict[str, str] = {}
        url = None
        deadline = time.monotonic() + timeout
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the sandbox exited with {proc.wait()} before it served")
            if url is None and (m := re.search(r"at (http://127\.0\.0\.1:\d+)", line)):
                url = m.group(1)
            elif m := re.match(r"export (\w+)=(.*)$", line.strip()):
                env[m.group(1)] = m.group(2)
                if m.group(1) == "ENGAGEMENT_PII_SALT":  # the last line it prints
                    break
        if url is None:
            raise RuntimeError("the sandbox did not start in time")
        # keep draining stdout so the sandbox never blocks on a full pipe
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        yield Sandbox(url, env, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def sandbox_per_api(scale: float, seed: int = 7, days: int = 28) -> Iterator[tuple[dict[str, str], dict[str, Sandbox]]]:
    """One sandbox process per API (the same world in each), as the real APIs are separate services: a
    big answer of one does not hold up another's in a shared process. Yields the settings that point
    each source at its own sandbox, and the sandboxes by source."""
    from connectors.registry import SOURCES

    with ExitStack() as stack:
        # started together: each builds its world at the same time
        starting = {source.name: stack.enter_context(_starting(scale, seed, days)) for source in SOURCES}
        sandboxes = {name: start() for name, start in starting.items()}
        env = dict(next(iter(sandboxes.values())).env)
        for source in SOURCES:
            env.update({k: v for k, v in sandboxes[source.name].env.items() if k in source.variables})
        yield env, sandboxes


@contextmanager
def _starting(scale: float, seed: int, days: int) -> Iterator:
    """A sandbox process started now; calling the yielded function waits until it serves."""
    context = sandbox_process(scale, seed=seed, days=days)
    holder: dict[str, Sandbox] = {}
    thread = threading.Thread(target=lambda: holder.setdefault("sandbox", context.__enter__()), daemon=True)
    thread.start()

    def start() -> Sandbox:
        thread.join()
        if "sandbox" not in holder:
            raise RuntimeError("a sandbox process did not start")
        return holder["sandbox"]

    try:
        yield start
    finally:
        thread.join()
        if "sandbox" in holder:
            context.__exit__(None, None, None)


def machine() -> str:
    """One line naming the machine and the versions a figure depends on."""
    cpus = os.cpu_count()
    mem = ""
    try:
        kb = int(next(line for line in open("/proc/meminfo") if line.startswith("MemTotal")).split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    model = ""
    try:
        model = next(line for line in open("/proc/cpuinfo") if line.startswith("model name")).split(":", 1)[1].strip()
    except (OSError, StopIteration):
        pass
    versions = []
    for dist in ("duckdb", "dagster", "dbt-core", "dbt-duckdb", "pyarrow", "dlt"):
        try:
            versions.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pass
    return f"{platform.system()} {platform.machine()}, {cpus} cores{mem}, {model}; Python {platform.python_version()}; " + ", ".join(versions)


def spread(values: Sequence[float]) -> tuple[float, float, float]:
    """(min, median, max)."""
    return min(values), statistics.median(values), max(values)


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table: the same text reads in a terminal and pastes into benchmarks/README.md."""
    cells = [[str(h) for h in header]] + [[f"{c:,.1f}" if isinstance(c, float) else f"{c:,}" if isinstance(c, int) else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells[1:]]
    return "\n".join(lines)
