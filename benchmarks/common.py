"""Shared pieces of the benchmarks: a sandbox in its own process, machine facts, figures.

The sandbox runs in a separate process so its world (held in memory to answer the APIs) never
counts towards the pipeline's memory, and its JSON encoding never competes for the GIL.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# raw records the sandbox serves per 1.0 of scale (1,000 people, 28 days), all streams together;
# measured on seed 7 (see benchmarks/README.md); used to pick a scale for a target record count
RECORDS_PER_SCALE_28_DAYS = 18_250
PR_SET_PDEATHSIG = 1  # prctl(2)


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
def sandbox_per_api(scale: float, seed: int = 7, days: int = 28, timeout: float = 3600,
                    latency_ms: float = 0.0) -> Iterator[tuple[dict[str, str], dict[str, Sandbox]]]:
    """One sandbox server process per API, as the real APIs are separate services: a big answer of
    one does not hold up another's, and no API's answers wait on another's for the interpreter.
    Yields the settings that point each source at its own server, and the servers by source.

    The world is built once: a parent process builds it, then forks one server per API, and the
    children share its pages copy-on-write (the heap is frozen first, so their garbage collector
    never writes to them). A 10M-record world takes 6.5 GB: six copies would not fit this machine.
    Every `Sandbox` yielded has the parent as its `process`; its process tree is all of them."""
    from connectors.registry import SOURCES

    env = {**os.environ, "ENGAGEMENT_SANDBOX_RATE_WINDOW_SECONDS": os.environ.get("ENGAGEMENT_SANDBOX_RATE_WINDOW_SECONDS", "3")}
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from benchmarks.common import serve_forked; serve_forked(*sys.argv[1:])",
         str(scale), str(seed), str(days), str(latency_ms)],
        stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT, env=env,
    )
    try:
        served: dict[str, dict] = {}
        deadline = time.monotonic() + timeout
        assert proc.stdout is not None
        while len(served) < len(SOURCES) and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the forked sandboxes exited with {proc.wait()} before they served")
            if line.startswith("{"):
                child = json.loads(line)
                served[child["api"]] = child
        if len(served) < len(SOURCES):
            raise RuntimeError("the forked sandboxes did not start in time")
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        sandboxes = {name: Sandbox(child["url"], child["env"], proc) for name, child in served.items()}
        settings = dict(next(iter(sandboxes.values())).env)
        for source in SOURCES:
            settings.update({k: v for k, v in sandboxes[source.name].env.items() if k in source.variables})
        yield settings, sandboxes
    finally:
        proc.terminate()  # the parent stops its children before it exits
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def serve_forked(scale: str, seed: str, days: str, latency_ms: str) -> None:
    """The parent of `sandbox_per_api`: build the world, fork a server per API, wait for SIGTERM."""
    from connectors.registry import SOURCES
    from connectors.sandbox.server import SandboxServer
    from connectors.sandbox.world import World, WorldConfig

    world = World(WorldConfig.at_scale(float(scale), seed=int(seed), days=int(days)))
    gc.collect()
    gc.freeze()  # the children's collections then never touch (and so never copy) the world's pages
    sys.stdout.flush()
    children = []
    for source in SOURCES:
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)  # never outlive a killed parent
            server = SandboxServer(world, latency=float(latency_ms) / 1000).start()
            line = json.dumps({"api": source.name, "url": server.url, "env": server.env()}) + "\n"
            os.write(1, line.encode())  # one write per child, so the lines never interleave
            while True:
                time.sleep(3600)
        children.append(pid)

    def stop(*_: object) -> None:
        for child in children:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for child in children:
            os.waitpid(child, 0)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    while True:
        time.sleep(3600)


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
