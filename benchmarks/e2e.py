"""End to end, fetch to published snapshot, at 100k, 1M and 10M raw records (issue 5, items 2 and 4),
on DuckDB and, with `--engines duckdb,spark`, on a local Spark (issue 13) against the same sandbox.

For each target record count one sandbox process per API (benchmarks.common.sandbox_per_api: a world
of the matching scale built once and shared copy-on-write) serves the APIs as separate services, and
the real `engagement refresh` over the world's whole window runs in its own process against a fresh
warehouse, serving file and DAGSTER_HOME. While it runs, a thread samples the resident memory of
the refresh's process tree (the Python process, the child that fetches and loads, then dbt's
subprocess) every ~100 ms.

Stage times come from what the run records, not from guesses:

- fetch, load: per stream, the ingestion asset's `fetch_seconds` (pages into Parquet: HTTP, JSON,
  Arrow) and `merge_seconds` (open the warehouse, merge in one transaction), summed over streams;
- dbt build, checks: dbt's run_results.json of the run, execution time of models and seeds vs data
  and unit tests; dbt start-up is the rest of the dbt step (process start, parse, event streaming);
- publish: the publish asset's `seconds` (write, checkpoint and swap the snapshot);
- startup: process start to the first step (imports, definitions, configuration checks);
- other: what is left of the process's wall time (Dagster step overhead, event log, the report).

Memory per stage maps every RSS sample to the stage running at its timestamp (step events of the
Dagster event log, dbt node timings). Correctness before timing: after every run the snapshot's
`fct_campaign_engaged_users` must equal the sandbox's ground truth (`GET /_sandbox/truth`), or the
benchmark fails and prints no figure for that run.
"""

from __future__ import annotations

import glob
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from benchmarks.common import RECORDS_PER_SCALE_28_DAYS, REPO_ROOT, Sandbox, machine, sandbox_per_api, table
from connectors.registry import SOURCES

DEFAULT_RECORDS = (100_000, 1_000_000)
STAGES = ("startup", "fetch", "load", "dbt start-up", "dbt build", "checks", "publish", "other")
TIMED_STAGES = ("fetch", "load", "dbt build", "checks", "publish")  # each must have a time in every run
DBT_STEP = "engagement_dbt_models"
PUBLISH_STEP = "publish"
WORLD_START = date(2026, 10, 1)  # WorldConfig's default start
LOOKBACK_DAYS = 7
READ_TIMEOUT_SECONDS = 600
PAGE = os.sysconf("SC_PAGE_SIZE")
MiB = 1024 * 1024


class BenchmarkFailed(RuntimeError):
    pass


# --- resident memory of a process tree ---------------------------------------------------------


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids.extend(int(k) for k in f.read().split())
        except (OSError, ValueError):
            pass
    return kids


def _children_by_scan(pid: int) -> list[int]:
    """Fallback when the kernel has no /proc/PID/task/TID/children: scan every process's parent."""
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                kids.append(int(entry))
    return kids


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    children = _children if os.path.exists(f"/proc/{pid}/task/{pid}/children") else _children_by_scan
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children(p))
    return out


def rss(pid: int) -> int:
    """Resident bytes of one process; 0 once it has gone."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def pss(pid: int) -> int:
    """Proportional set size of one process: its share of pages it shares with others (forked servers)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("Pss:"))
    except (OSError, StopIteration, ValueError):
        return rss(pid)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def tree_cpu_seconds(pid: int) -> float:
    return sum(cpu_seconds(p) for p in tree(pid))


def tree_pss(pid: int) -> int:
    return sum(pss(p) for p in tree(pid))


@dataclass(frozen=True)
class Sample:
    t: float  # time.time()
    tree: int  # bytes, root + descendants
    root: int  # bytes, the refresh's Python process
    procs: int


class TreeSampler(threading.Thread):
    """Samples the RSS of `pid`'s process tree every `interval` seconds until stopped."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True, name=f"rss-sampler-{pid}")
        self.pid, self.interval = pid, interval
        self.samples: list[Sample] = []
        self._halt = threading.Event()

    def sample(self) -> None:
        pids = tree(self.pid)
        sizes = {p: rss(p) for p in pids}
        if sizes.get(self.pid):
            self.samples.append(Sample(time.time(), sum(sizes.values()), sizes[self.pid], len(pids)))

    def run(self) -> None:
        while True:
            self.sample()
            if self._halt.wait(self.interval):
                return

    def stop(self) -> None:
        self._halt.set()
        self.join()


# --- one run -----------------------------------------------------------------------------------


@dataclass
class RunResult:
    target_records: int
    scale: float
    people: int
    records: int  # raw records the APIs returned, all streams
    seconds: dict[str, float]  # stage -> seconds (STAGES)
    total: float
    cpu_seconds: float  # refresh process and its waited-for children (dbt)
    peak_tree: int  # bytes: max over samples of the tree's summed RSS
    peak_refresh: int  # bytes: the refresh's Python process alone
    peak_dbt: int  # bytes: its descendants (the fetch-and-load child, then dbt)
    kernel_maxrss: int  # bytes: the kernel's high-water mark of the largest single process in the tree
    stage_peak: dict[str, int]  # stage -> bytes (max tree RSS among the samples taken during it)
    samples: int
    truth_ok: bool
    streams: dict[str, tuple[int, float, float]] = field(default_factory=dict)  # stream -> (records, fetch s, merge s)
    sandbox_cpu: float = 0.0  # CPU seconds the sandbox spent answering this run
    engine: str = "duckdb"  # ENGAGEMENT_ENGINE of the run


@dataclass
class SandboxStats:
    target_records: int
    scale: float
    people: int
    ready_seconds: float  # world generation + server start
    pss_ready: int  # bytes: proportional set size of all the sandbox processes once they serve
    pss_after: int  # bytes: the same after the runs


@dataclass
class E2EResult:
    runs: list[RunResult]
    sandboxes: list[SandboxStats]
    command: str
    markdown: str = ""


def scale_for(records: int, days: int = 28) -> float:
    return round(records / RECORDS_PER_SCALE_28_DAYS * 28 / days, 3)


def people_for(scale: float) -> int:
    return max(20, int(1000 * scale))  # WorldConfig.at_scale, without building the world here


def _ts(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def refresh_child(argv: Sequence[str]) -> int:
    """Runs in the measured process: `engagement refresh` exactly as the CLI does (same `main`, same
    in-process ephemeral Dagster instance), observing `materialize` only to keep the run's event log,
    which it writes as JSON to argv[0] after the refresh has finished (outside the measured time)."""
    import dagster as dg

    from dagster_project import cli

    out_path, *cli_args = argv
    real, seen = dg.materialize, {}

    def observed(*args, **kwargs):
        result = real(*args, **kwargs)
        seen["instance"], seen["run_id"] = kwargs.get("instance"), result.run_id
        return result

    dg.materialize = observed
    try:
        code = cli.main(cli_args)
    finally:
        dg.materialize = real
    done = time.time()
    events = []
    if seen.get("instance") is not None:
        for e in seen["instance"].all_logs(seen["run_id"]):
            de = e.dagster_event
            if de is None or not e.step_key:
                continue
            event = {"step": e.step_key, "type": de.event_type_value, "ts": e.timestamp}
            if de.event_type_value == "ASSET_MATERIALIZATION":
                mat = de.step_materialization_data.materialization
                event["asset"] = mat.asset_key.to_user_string()
                event["metadata"] = {k: v.value for k, v in mat.metadata.items()
                                     if isinstance(v.value, int | float | str | bool | None)}
            events.append(event)
    Path(out_path).write_text(json.dumps({"exit": code, "done": done, "run_id": seen.get("run_id"), "events": events}))
    return code


def read_run_results(run_id: str) -> tuple[dict[str, float], dict[str, list[tuple[float, float]]], Path]:
    """(stage -> execution seconds, stage -> node intervals, target dir) from the run's run_results.json."""
    hits = glob.glob(str(REPO_ROOT / "dbt_models" / "target" / f"{DBT_STEP}-{run_id[:7]}-*" / "run_results.json"))
    if len(hits) != 1:
        raise BenchmarkFailed(f"expected one run_results.json for run {run_id[:7]} under dbt_models/target, found {len(hits)}")
    results = json.loads(Path(hits[0]).read_text())["results"]
    seconds: dict[str, float] = {"dbt build": 0.0, "checks": 0.0}
    intervals: dict[str, list[tuple[float, float]]] = {"dbt build": [], "checks": []}
    for r in results:
        stage = "checks" if r["unique_id"].split(".")[0] in ("test", "unit_test") else "dbt build"
        seconds[stage] += float(r.get("execution_time") or 0.0)
        starts = [_ts(t.get("started_at")) for t in r.get("timing", [])]
        ends = [_ts(t.get("completed_at")) for t in r.get("timing", [])]
        starts, ends = [s for s in starts if s], [e for e in ends if e]
        if starts and ends:
            intervals[stage].append((min(starts), max(ends)))
    return seconds, intervals, Path(hits[0]).parent


def stage_times(t0: float, t_end: float, run_id: str, events: list[dict]) -> tuple[dict[str, float], dict[str, list[tuple[float, float]]], int, dict]:
    """Seconds per stage, the stage intervals (for the memory samples), records fetched, per-stream figures."""
    step_start: dict[str, float] = {}
    step_end: dict[str, float] = {}
    first_mat: dict[str, float] = {}
    metadata: dict[str, dict] = {}
    for e in events:
        if e["type"] == "STEP_START":
            step_start[e["step"]] = e["ts"]
        elif e["type"] in ("STEP_SUCCESS", "STEP_FAILURE"):
            step_end[e["step"]] = e["ts"]
        elif e["type"] == "ASSET_MATERIALIZATION":
            name = e["asset"]
            if name not in first_mat or e["ts"] < first_mat[name]:  # one event per partition: the first
                first_mat[name] = e["ts"]
                metadata[name] = e["metadata"]
    seconds = dict.fromkeys(STAGES, 0.0)
    spans: dict[str, list[tuple[float, float]]] = {s: [] for s in STAGES}
    records, streams = 0, {}
    for name, md in metadata.items():
        if "fetch_seconds" not in md:
            continue
        fetch, merge, done = float(md["fetch_seconds"]), float(md["merge_seconds"]), first_mat[name]
        seconds["fetch"] += fetch
        seconds["load"] += merge
        spans["fetch"].append((done - merge - fetch, done - merge))
        spans["load"].append((done - merge, done))
        records += int(md.get("fetched", 0))
        streams[name.replace("raw_", "", 1).replace("/", ".")] = (int(md.get("fetched", 0)), fetch, merge)
    if not streams:
        raise BenchmarkFailed("no ingestion asset reported fetch_seconds/merge_seconds")
    if DBT_STEP not in step_end or PUBLISH_STEP not in metadata:
        raise BenchmarkFailed(f"the run did not get through dbt and publish (steps ended: {sorted(step_end)})")
    dbt_seconds, dbt_spans, target = read_run_results(run_id)
    seconds.update(dbt_seconds)
    spans.update(dbt_spans)
    dbt_wall = step_end[DBT_STEP] - step_start[DBT_STEP]
    seconds["dbt start-up"] = max(0.0, dbt_wall - dbt_seconds["dbt build"] - dbt_seconds["checks"])
    spans["dbt start-up"] = [(step_start[DBT_STEP], step_end[DBT_STEP])]  # whatever in the step is no node
    seconds["publish"] = float(metadata[PUBLISH_STEP]["seconds"])
    spans["publish"] = [(step_start[PUBLISH_STEP], step_end[PUBLISH_STEP])]
    first_step = min(step_start.values())
    seconds["startup"] = first_step - t0
    spans["startup"] = [(t0, first_step)]
    seconds["other"] = max(0.0, (t_end - t0) - sum(seconds[s] for s in STAGES if s != "other"))
    shutil.rmtree(target, ignore_errors=True)  # this run's dbt target dir (run_results, logs, manifest copy)
    return seconds, spans, records, streams


def stage_of(t: float, spans: dict[str, list[tuple[float, float]]]) -> str:
    # most specific first: a dbt node inside the dbt step, a merge inside an ingestion step
    for stage in ("dbt build", "checks", "load", "fetch", "publish", "dbt start-up", "startup"):
        if any(a <= t <= b for a, b in spans[stage]):
            return stage
    return "other"


def check_truth(url: str, serving: Path) -> None:
    """The snapshot's fct_campaign_engaged_users must equal the sandbox's ground truth exactly."""
    import duckdb

    with urllib.request.urlopen(f"{url}/_sandbox/truth", timeout=1800) as response:
        body = json.load(response)
    expected = {(r["campaign_key"], r["channel"]): (r["engaged_users"], r["identified_users"])
                for r in body["campaign_engaged_users"]}
    con = duckdb.connect(str(serving), read_only=True)
    try:
        got = {(key, channel): (engaged, identified) for key, channel, engaged, identified in con.execute(
            "select campaign_key, channel, engaged_users, identified_users from marts.fct_campaign_engaged_users").fetchall()}
    finally:
        con.close()
    if got != expected or not expected:
        wrong = sorted(k for k in set(got) | set(expected) if got.get(k) != expected.get(k))
        detail = ", ".join(f"{k}: got {got.get(k)} expected {expected.get(k)}" for k in wrong[:5])
        raise BenchmarkFailed(f"fct_campaign_engaged_users differs from the sandbox truth in {len(wrong)} rows: {detail}")


def refresh_once(sandbox: Sandbox, target_records: int, scale: float, days: int, workdir: Path,
                 interval: float = 0.1, engine: str = "duckdb") -> RunResult:
    """One `engagement refresh` of the world's window in a subprocess; figures only if the snapshot equals truth."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENGAGEMENT_", "DAGSTER_"))}
    env.update(sandbox.env)
    env.update({
        "ENGAGEMENT_WAREHOUSE": str(workdir / "engagement.duckdb"),
        "ENGAGEMENT_SERVING": str(workdir / "serving.duckdb"),
        "ENGAGEMENT_SOURCES": ",".join(s.name for s in SOURCES),
        "ENGAGEMENT_LOOKBACK_DAYS": str(LOOKBACK_DAYS),
        "ENGAGEMENT_ENGINE": engine,
        "ENGAGEMENT_LAKE": str(workdir / "lake"),  # spark: raw Parquet, Spark's tables, the published marts
        # the sandbox builds a big world's report or activity list in Python, in far longer than a real API
        # takes; a timed-out retry would then meet the API's concurrency limit (see benchmarks/README.md)
        "ENGAGEMENT_HTTP_READ_TIMEOUT_SECONDS": str(READ_TIMEOUT_SECONDS),
    })  # no DAGSTER_HOME: the CLI's ephemeral in-process instance, as `engagement refresh` runs by default
    start, end = WORLD_START, WORLD_START + timedelta(days=days)
    events_path = workdir / "events.json"
    cmd = [sys.executable, "-c", "import sys; from benchmarks.e2e import refresh_child; sys.exit(refresh_child(sys.argv[1:]))",
           str(events_path), "refresh", "--start", str(start), "--end", str(end)]
    sandbox_cpu = tree_cpu_seconds(sandbox.process.pid)
    with open(workdir / "refresh.out", "w") as out, open(workdir / "refresh.err", "w") as err:
        t0 = time.time()
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=out, stderr=err)
        sampler = TreeSampler(proc.pid, interval)
        sampler.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            sampler.stop()
    proc.returncode = os.waitstatus_to_exitcode(status)
    sandbox_cpu = tree_cpu_seconds(sandbox.process.pid) - sandbox_cpu
    if proc.returncode != 0 or not events_path.exists():
        tail = ((workdir / "refresh.out").read_text() + (workdir / "refresh.err").read_text()).strip().splitlines()[-15:]
        raise BenchmarkFailed(f"refresh exited {proc.returncode} at {target_records:,} records:\n" + "\n".join(tail))
    check_truth(sandbox.url, workdir / "serving.duckdb")
    log = json.loads(events_path.read_text())
    t_end = log["done"]  # the refresh returned; writing the event log out is not measured
    samples = [s for s in sampler.samples if s.t <= t_end]
    seconds, spans, records, streams = stage_times(t0, t_end, log["run_id"], log["events"])
    stage_peak: dict[str, int] = {}
    for s in samples:
        stage = stage_of(s.t, spans)
        stage_peak[stage] = max(stage_peak.get(stage, 0), s.tree)
    return RunResult(
        target_records=target_records, scale=scale, people=people_for(scale), records=records,
        seconds=seconds, total=t_end - t0, cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_tree=max((s.tree for s in samples), default=0), peak_refresh=max((s.root for s in samples), default=0),
        peak_dbt=max((s.tree - s.root for s in samples), default=0), kernel_maxrss=usage.ru_maxrss * 1024,
        stage_peak=stage_peak, samples=len(samples), truth_ok=True, streams=streams, sandbox_cpu=sandbox_cpu,
        engine=engine,
    )


# --- the benchmark -----------------------------------------------------------------------------


def _mib(n: int | None) -> str:
    return f"{n / MiB:,.0f}" if n else "–"


def _median_run(runs: list[RunResult]) -> RunResult:
    return sorted(runs, key=lambda r: r.total)[(len(runs) - 1) // 2]


def _exponent(t1: float, t2: float, n1: int, n2: int) -> str:
    """log(t2/t1) / log(n2/n1): 1.0 grows linearly with the records, 0 is a constant cost."""
    if t1 <= 0 or t2 <= 0 or n1 <= 0 or n2 <= n1:
        return "–"
    return f"{math.log(t2 / t1) / math.log(n2 / n1):.2f}"


def render(runs_by_target: dict[int, list[RunResult]], sandboxes: list[SandboxStats], repeat: int) -> str:
    med = {t: _median_run(rs) for t, rs in runs_by_target.items()}
    targets = sorted(med)
    parts = []
    rows = []
    for t in targets:
        r, rs = med[t], runs_by_target[t]
        totals = sorted(x.total for x in rs)
        total = f"{totals[0]:.1f} / {statistics.median(totals):.1f}" if repeat > 1 else f"{r.total:.1f}"
        rows.append([r.records, r.scale, r.people, total, *(round(statistics.median(x.seconds[s] for x in rs), 2) for s in STAGES),
                     round(statistics.median(x.cpu_seconds for x in rs), 1), "equal" if all(x.truth_ok for x in rs) else "DIFFERS"])
    parts.append("Wall time per stage (s" + (f", median of {repeat}; total min / median" if repeat > 1 else "") + ")\n\n" + table(
        ["records", "scale", "people", "total", *STAGES, "CPU s", "truth"], rows))

    rows = []
    for t in targets:
        r = med[t]
        rows.append([r.records, _mib(r.peak_tree), _mib(r.peak_refresh), _mib(r.peak_dbt), _mib(r.kernel_maxrss),
                     *(_mib(r.stage_peak.get(s)) for s in STAGES), r.samples])
    parts.append("Peak resident memory (MiB) of the refresh's process tree, overall and per stage\n\n" + table(
        ["records", "tree", "python", "children (ingest, dbt)", "largest proc (kernel)", *STAGES, "samples"], rows))
    if len(targets) > 1:
        a, b = med[targets[0]], med[targets[-1]]
        parts.append(f"Records grew x{b.records / a.records:.1f}; peak tree RSS grew x{b.peak_tree / max(a.peak_tree, 1):.2f} "
                     f"({_mib(a.peak_tree)} -> {_mib(b.peak_tree)} MiB).")

    rows = []
    for i, t in enumerate(targets):
        r = med[t]
        cells: list[object] = [r.records]
        for s in (*STAGES, "total"):
            secs = r.total if s == "total" else r.seconds[s]
            cells.append(f"{secs / r.records * 1e6:.1f}")
        if i:
            p = med[targets[i - 1]]
            cells += [_exponent(p.seconds[s], r.seconds[s], p.records, r.records) for s in ("fetch", "load", "dbt build", "checks", "publish")]
            cells.append(_exponent(p.total, r.total, p.records, r.records))
        else:
            cells += ["–"] * 6
        rows.append(cells)
    parts.append("Scaling: microseconds per record per stage, and the growth exponent from the previous scale "
                 "(log(time ratio) / log(records ratio): 1.00 = linear, 0 = constant, above 1 = worse than linear)\n\n" + table(
                     ["records", *(f"{s} µs/rec" for s in (*STAGES, "total")),
                      "fetch exp", "load exp", "build exp", "checks exp", "publish exp", "total exp"], rows))

    names = sorted({n for r in med.values() for n in r.streams})
    rows = []
    for n in names:
        cells = [n]
        for t in targets:
            rec, fetch, merge = med[t].streams.get(n, (0, 0.0, 0.0))
            cells += [rec, round(fetch, 2), round(merge, 2)]
        rows.append(cells)
    header = ["stream"] + [h for t in targets for h in (f"records @{med[t].records:,}", "fetch s", "load s")]
    parts.append("Per stream (the median run of each scale)\n\n" + table(header, rows))

    rows = [[s.target_records, s.scale, s.people, round(s.ready_seconds, 1), _mib(s.pss_ready), _mib(s.pss_after),
             round(statistics.median(r.sandbox_cpu for r in runs_by_target[s.target_records]), 1)] for s in sandboxes]
    parts.append("The sandbox processes, one per API over one shared world (not counted above; they share the cores with "
                 "the refresh)\n\n" + table(
        ["target records", "scale", "people", "world + start s", "PSS at start MiB", "PSS after MiB", "CPU s per refresh"], rows))
    return "\n\n".join(parts)


def command_line(records: Sequence[int], seed: int, days: int, repeat: int, engines: Sequence[str] = ("duckdb",)) -> str:
    return (f"python -m benchmarks e2e --records {' '.join(str(r) for r in records)} --seed {seed} "
            f"--days {days} --repeat {repeat}" + (f" --engines {','.join(engines)}" if tuple(engines) != ("duckdb",) else ""))


def engine_table(runs: Sequence[RunResult]) -> str:
    """One row per engine x scale (the median run): the stages side by side, and peak memory."""
    groups: dict[tuple[int, str], list[RunResult]] = {}
    for r in runs:
        groups.setdefault((r.target_records, r.engine), []).append(r)
    rows = []
    for (_, engine), rs in sorted(groups.items()):
        r = _median_run(rs)
        rows.append([engine, r.records, f"{r.total:.1f}", *(round(r.seconds[s], 1) for s in STAGES),
                     round(r.cpu_seconds, 1), _mib(r.peak_tree), _mib(r.peak_dbt), "equal" if r.truth_ok else "DIFFERS"])
    return ("By engine (s; on Spark, dbt start-up includes starting the JVM, registering the lake's sources, "
            "exporting the marts and reading them back into the warehouse; load is the merge into the lake's Parquet)\n\n"
            + table(["engine", "records", "total", *STAGES, "CPU s", "peak tree MiB", "peak children MiB", "truth"], rows))


def _engines(engines: str | Sequence[str]) -> tuple[str, ...]:
    names = tuple(e.strip() for e in (engines.split(",") if isinstance(engines, str) else engines) if e.strip())
    unknown = [e for e in names if e not in ("duckdb", "spark")]
    if unknown or not names:
        raise ValueError(f"--engines takes duckdb and/or spark, comma-separated (got {engines!r})")
    return names


def run(records: Sequence[int] = DEFAULT_RECORDS, seed: int = 7, days: int = 28, repeat: int = 1,
        interval: float = 0.1, keep: bool = False, out: Callable[[str], None] = print,
        engines: str | Sequence[str] = ("duckdb",), **_: object) -> E2EResult:
    """Run the end-to-end benchmark at each record count; prints Markdown tables and returns the figures.

    Raises BenchmarkFailed when a refresh fails or its snapshot differs from the sandbox truth.
    """
    from dagster_project.lib.dbt_manifest import ensure_manifest

    records = sorted(int(r) for r in records)
    engines = _engines(engines)
    command = command_line(records, seed, days, repeat, engines)
    out("## End to end: fetch -> load -> dbt build -> checks -> publish\n")
    out(f"machine: {machine()}")
    if "spark" in engines:
        from importlib.metadata import version

        out(f"spark: pyspark {version('pyspark')}, dbt-spark {version('dbt-spark')}, `session` method, local[*]")
    out(f"command: `{command}`")
    out(f"each scale: a sandbox world (`--scale S --seed {seed} --days {days}`) built once, one server process per API; "
        f"`engagement refresh --start {WORLD_START} --end {WORLD_START + timedelta(days=days)}` "
        f"(ENGAGEMENT_LOOKBACK_DAYS={LOOKBACK_DAYS}) in a subprocess with a fresh warehouse and DAGSTER_HOME; "
        f"RSS of its process tree sampled every {interval * 1000:.0f} ms; {repeat} run(s) per scale\n")
    ensure_manifest()  # a stale manifest would be re-parsed inside the first measured run
    runs_by_engine: dict[str, dict[int, list[RunResult]]] = {engine: {} for engine in engines}
    sandboxes = []
    for target in records:
        scale = scale_for(target, days)
        out(f"- {target:,} records: scale {scale} ({people_for(scale):,} people), seed {seed}: starting the sandbox ...")
        began = time.monotonic()
        with sandbox_per_api(scale, seed=seed, days=days, timeout=3600) as (settings, by_api):
            ready = time.monotonic() - began
            first = next(iter(by_api.values()))  # any of them answers the truth: each holds the whole world
            sandbox = Sandbox(first.url, settings, first.process)
            stats = SandboxStats(target, scale, people_for(scale), ready, tree_pss(sandbox.process.pid), 0)
            for engine in engines:
                for i in range(repeat):
                    workdir = Path(tempfile.mkdtemp(prefix=f"engagement-bench-e2e-{engine}-{target}-"))
                    try:
                        result = refresh_once(sandbox, target, scale, days, workdir, interval, engine)
                    finally:
                        if not keep:
                            shutil.rmtree(workdir, ignore_errors=True)
                    runs_by_engine[engine].setdefault(target, []).append(result)
                    out(f"  {engine} run {i + 1}/{repeat}: {result.records:,} records in {result.total:.1f} s, truth equal, "
                        f"peak tree RSS {_mib(result.peak_tree)} MiB" + (f" (kept in {workdir})" if keep else ""))
            stats.pss_after = tree_pss(sandbox.process.pid)
        sandboxes.append(stats)
    all_runs = [r for engine in engines for t in records for r in runs_by_engine[engine][t]]
    parts = [engine_table(all_runs)] if len(engines) > 1 else []
    for engine in engines:
        parts.append((f"### {engine}\n\n" if len(engines) > 1 else "") + render(runs_by_engine[engine], sandboxes, repeat))
    markdown = "\n\n".join(parts)
    out("")
    out(markdown)
    return E2EResult(all_runs, sandboxes, command, markdown)


if __name__ == "__main__":
    from benchmarks.__main__ import main

    sys.exit(main(["e2e", *sys.argv[1:]]))

