"""A 90-day backfill of every stream at real API latency: ours, dlt's best, and the latency limit.

Each API is served by its own sandbox process (one 90-day world, built once and forked: the real APIs are
separate services, and one Python process serving all of them would let one API's big answers hold
up another's), which holds every answer `--latency-ms` (default 200 ms, a sleep: no CPU) before it
leaves. The backfill reads what a run over the world's 90 days reads (each
stream's window with the lookback, reference data whole) into an empty DuckDB file:

- ours: every stream's client `read` and `load_stream`, as the ingestion assets run them: all streams
  read at once (`dagster_project/lib/read_ahead.py`), loaded one after another;
- ours via Dagster: the same 25 ingestion assets materialised by Dagster over the 90 daily partitions
  in one run (a subprocess, as the CLI runs them, without dbt);
- sequential: our clients one request at a time, one stream after another (the shape of the
  pipeline before this benchmark: only Mailchimp's per-campaign reads had 4 workers then);
- dlt: every stream as dlt 1.31 `rest_api` resources in one source, each `parallelized`, Parquet,
  `append`, `--dlt-workers` extract threads (10: more could exceed Mailchimp's 10 connections).

Before any time is printed, every contender must have loaded, per stream, the rows a plain read of the
same sandbox gives (one request at a time, no latency: the reading the end-to-end tests hold to the
world's truth); the sandbox says whether it saw any API's documented limit exceeded.

The latency limit: per API, the larger of its requests x latency / the simultaneous requests it
documents (or its rate: requests / calls per window), and its longest chain of requests that must
follow one another (a cursor's pages; a listing before its items; a page giving the total before
the others) x latency. APIs are separate services: their limits overlap, so the backfill's limit is
the largest of them. Requests are ours (the sandbox counts them, and each resource's pages).
Each contender starts after a cool-down that empties every API's rate windows (HubSpot's 10 s; X's
15-minute windows are shortened to 3 s for benchmarks, with X's calls per window).

    python -m benchmarks backfill [--scale 10] [--latency-ms 200] [--repeat 1] [--contenders ours,dlt]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import duckdb

from benchmarks.common import REPO_ROOT, Sandbox, machine, sandbox_per_api, sandbox_process, spread, table

CONTENDERS = ("ours", "ours-dagster", "sequential", "dlt")
DAYS = 90
LOOKBACK_DAYS = 7
DLT_WORKERS = 10
# every contender starts with every API's rate windows empty, as a backfill does that nobody ran just
# before: the longest window a run here can fill is HubSpot's 10 s (X's are shortened to 3 s)
COOL_DOWN_SECONDS = 11.0
# the sandbox's endpoints whose pages follow a cursor (each needs the previous answer), and the
# listings whose items other requests read (a chain: the listing's page, then the item's)
CURSOR_PAGED = frozenset({"hubspot.contacts", "hubspot.search", "x.tweets", "x.mentions", "x.search", "x.liking_users",
                          "x.retweeted_by", "facebook.published_posts", "facebook.tagged", "facebook.comments",
                          "facebook.reactions", "linkedin.reactions", "linkedin.notifications"})
LISTINGS = frozenset({"mailchimp.campaigns", "mailchimp.reports", "mailchimp.lists", "ga4.runReport", "hubspot.contacts",
                      "hubspot.search", "x.tweets", "x.mentions", "facebook.published_posts", "facebook.tagged",
                      "linkedin.posts", "linkedin.notifications"})


@dataclass
class Run:
    contender: str
    seconds: float
    rows: dict[str, int]
    violations: list[str]
    inner_seconds: float | None = None  # ours via Dagster: the materialisation alone, without process start


@dataclass
class ApiBound:
    api: str
    requests: int
    documented: str
    by_limit: float  # requests x latency / concurrency, or the waits a rate imposes
    chain: int
    by_chain: float

    @property
    def seconds(self) -> float:
        return max(self.by_limit, self.by_chain)


@dataclass
class Result:
    scale: float
    people: int
    latency_ms: float
    days: int
    reference: dict[str, int]
    runs: list[Run] = field(default_factory=list)
    bounds: list[ApiBound] = field(default_factory=list)

    @property
    def limit(self) -> float:
        return max(b.seconds for b in self.bounds)

    def times(self, contender: str) -> list[float]:
        return [r.seconds for r in self.runs if r.contender == contender]


# --- the sandbox's control endpoints -------------------------------------------------------------

def control(url: str, path: str, payload: dict | None = None) -> dict:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(f"{url}/_sandbox/{path}", data=data, headers={"Content-Type": "application/json"},
                                     method="POST" if data is not None else "GET")
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


class Sandboxes:
    """One sandbox process per API; their control endpoints as one."""

    def __init__(self, by_api: dict[str, Sandbox]) -> None:
        self.by_api = by_api

    def set(self, path: str, payload: dict) -> None:
        for url in {sandbox.url for sandbox in self.by_api.values()}:
            control(url, path, payload)

    def report(self) -> dict:
        """Each API's usage from its own sandbox."""
        reports = {api: control(sandbox.url, "limits") for api, sandbox in self.by_api.items()}
        return {"apis": {api: report["apis"][api] for api, report in reports.items() if api in report["apis"]},
                "resources": [r for api, report in reports.items() for r in report["resources"] if r[0].split(".")[0] == api]}


@contextmanager
def shared_sandbox_context(scale: float, seed: int, days: int) -> Iterator[tuple[dict[str, str], dict[str, Sandbox]]]:
    """All APIs in one sandbox process (`--shared-sandbox`): cheaper, but one API's answers wait on another's."""
    from connectors.registry import SOURCES

    with sandbox_process(scale, seed=seed, days=days) as sandbox:
        yield sandbox.env, {source.name: sandbox for source in SOURCES}


def violations(report: dict) -> list[str]:
    """What the sandbox saw beyond an API's documented limits."""
    found = []
    for api, usage in report["apis"].items():
        if usage["concurrent_limit"] is not None and usage["peak_concurrent"] > usage["concurrent_limit"]:
            found.append(f"{api} {usage['peak_concurrent']} simultaneous (of {usage['concurrent_limit']})")
        found += [f"{api} {r['peak']} calls per {r['seconds']:g} s (of {r['calls']})" for r in usage["rates"] if r["peak"] > r["calls"]]
        if usage["throttled"]:
            found.append(f"{api} {usage['throttled']} throttled")
    return found


# --- ours ------------------------------------------------------------------------------------

def _settings(env: dict[str, str], db: Path):
    from dagster_project.lib.settings import load_settings

    return load_settings({**env, "ENGAGEMENT_WAREHOUSE": str(db), "ENGAGEMENT_LOOKBACK_DAYS": str(LOOKBACK_DAYS)})


def _windows(settings, start: date, end: date) -> dict:
    """Each stream's window in a run over the partitions [start, end), as its asset computes it."""
    from dagster_project.defs.ingestion import run_window
    from dagster_project.lib.clients import all_streams

    days = SimpleNamespace(start=datetime.combine(start, datetime.min.time(), timezone.utc),
                           end=datetime.combine(end, datetime.min.time(), timezone.utc))
    return {spec: run_window(spec, settings, days) for spec in all_streams() if settings.enabled(spec.source)}


def table_rows(db: Path) -> dict[str, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = con.execute("select table_schema, table_name from information_schema.tables "
                             "where table_schema like 'raw\\_%' escape '\\'").fetchall()
        return {f"{s}.{t}": con.execute(f'select count(*) from "{s}"."{t}"').fetchone()[0] for s, t in tables}
    finally:
        con.close()


def run_ours(env: dict[str, str], db: Path, start: date, end: date, sequential: bool = False) -> dict[str, int]:
    """Every stream into `db`: all read at once and loaded in turn, or (sequential) one request at a time."""
    from dagster_project.lib import warehouse
    from dagster_project.lib.clients import build_client
    from dagster_project.lib.read_ahead import ReadAhead, RunReads

    settings = _settings(env, db)
    windows = _windows(settings, start, end)
    if sequential:
        for spec, window in windows.items():
            client = build_client(spec.source, settings)
            client.workers = 1
            warehouse.load_stream(db, spec, client.read(spec.name, window), window)
        return table_rows(db)
    reads = RunReads()
    reads.start([(spec, window, lambda report, spec=spec: build_client(spec.source, settings, on_progress=report))
                 for spec, window in windows.items()])
    for spec, window in windows.items():
        reading = reads.claim(spec, window, lambda stream, stats: None)
        warehouse.load_stream(db, spec, ReadAhead(reading).read(spec.name, window), window)
    return table_rows(db)


def run_dagster(env: dict[str, str], db: Path, start: date, end: date) -> tuple[float, float, dict[str, int]]:
    """(process seconds, materialisation seconds, rows): the ingestion assets over [start, end) in one run."""
    with tempfile.TemporaryDirectory(prefix="bench-backfill-dagster-") as home:
        child = {**env, "ENGAGEMENT_WAREHOUSE": str(db), "ENGAGEMENT_LOOKBACK_DAYS": str(LOOKBACK_DAYS),
                 "ENGAGEMENT_SERVING": str(Path(home) / "serving.duckdb")}
        child.pop("DAGSTER_HOME", None)  # an ephemeral instance, as `engagement refresh` uses without DAGSTER_HOME
        began = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "benchmarks.backfill", "--dagster-run", str(start), str(end)],
                              env=child, cwd=REPO_ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - began
    if proc.returncode != 0:
        raise RuntimeError(f"the Dagster backfill failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    inner = json.loads(proc.stdout.strip().splitlines()[-1])
    if not inner["success"]:
        raise RuntimeError(f"the Dagster backfill failed: {inner['failures'][:1]}")
    return seconds, inner["seconds"], table_rows(db)


def dagster_main(start: date, end: date) -> None:
    """In the subprocess: materialise every ingestion asset over [start, end) and print one JSON line."""
    import dagster as dg

    from dagster_project.defs.ingestion import ingestion_assets
    from dagster_project.defs.resources import EngagementSettings
    from dagster_project.lib.run_window import range_tags
    from dagster_project.lib.throwaway_instance import throwaway_instance

    assets = ingestion_assets()
    began = time.perf_counter()
    result = dg.materialize(assets, resources={"engagement": EngagementSettings()}, instance=throwaway_instance(),
                            tags=range_tags(start, end), raise_on_error=False,
                            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}})
    failures = [str(e.step_failure_data.error.message).splitlines()[0] for e in result.get_step_failure_events()]
    print(json.dumps({"success": result.success, "seconds": time.perf_counter() - began, "failures": failures}))


# --- the latency limit -------------------------------------------------------------------------

def latency_bounds(report: dict, latency: float) -> list[ApiBound]:
    """Per API: requests x latency / its documented concurrency (or the waits its rates impose), and its
    longest chain of requests that must follow one another x latency."""
    listing: dict[str, int] = {}
    item: dict[str, int] = {}
    for endpoint, _resource, pages, _requests in report["resources"]:
        api = endpoint.split(".")[0]
        depth = pages if endpoint in CURSOR_PAGED else min(pages, 2)  # with a total, all pages after the first at once
        chains = listing if endpoint in LISTINGS else item
        chains[api] = max(chains.get(api, 0), depth)
    bounds = []
    for api, usage in sorted(report["apis"].items()):
        requests = usage["requests"]
        if not requests:
            continue
        concurrent = usage["concurrent_limit"]
        by_limit = requests * latency / concurrent if concurrent else 0.0
        documented = [f"{concurrent} at once"] if concurrent else []
        for rate in usage["rates"]:
            counted = requests if rate["endpoints"] in ("*", f"{api}.*") else rate["peak"]
            by_limit = max(by_limit, max(0, -(-counted // rate["calls"]) - 1) * rate["seconds"])
            if rate["calls"] < 1_000_000:
                documented.append(f"{rate['calls']:,} per {rate['seconds']:g} s" + (f" ({rate['name']})" if rate["name"] else ""))
        chain = listing.get(api, 0) + item.get(api, 0)
        bounds.append(ApiBound(api, requests, "; ".join(documented[:2]) + (" ..." if len(documented) > 2 else "") or "none published",
                               by_limit, chain, chain * latency))
    return bounds


# --- the benchmark -----------------------------------------------------------------------------

def run(scale: float = 10.0, latency_ms: float = 200.0, seed: int = 7, days: int = DAYS, repeat: int = 1,
        contenders: Sequence[str] | str = CONTENDERS, dlt_workers: int = DLT_WORKERS, quiet: bool = False,
        out: Callable[[str], None] = print, cool_down: float = COOL_DOWN_SECONDS, shared_sandbox: bool = False) -> Result:
    """Every contender `repeat` times, alternating, against one sandbox; prints the tables unless quiet."""
    from benchmarks.backfill_dlt import run_dlt
    from connectors.sandbox.world import WorldConfig

    if isinstance(contenders, str):
        contenders = tuple(c.strip() for c in contenders.split(",") if c.strip())
    unknown = set(contenders) - set(CONTENDERS)
    if unknown:
        raise ValueError(f"unknown contender(s) {', '.join(sorted(unknown))}; choose from {', '.join(CONTENDERS)}")
    scale, latency_ms, seed, days, repeat = float(scale), float(latency_ms), int(seed), int(days), int(repeat)
    world_start = WorldConfig().start
    world_end = world_start + timedelta(days=days)
    read_from = world_start - timedelta(days=LOOKBACK_DAYS)
    sandbox_context = shared_sandbox_context if shared_sandbox else sandbox_per_api
    with sandbox_context(scale, seed=seed, days=days) as (env, by_api), tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp:
        sandboxes, work = Sandboxes(by_api), Path(tmp)
        # the reference: one request at a time, no latency
        sandboxes.set("latency", {"ms": 0})
        reference = run_ours(env, work / "reference.duckdb", world_start, world_end, sequential=True)
        sandboxes.set("latency", {"ms": latency_ms})
        result = Result(scale, WorldConfig.at_scale(scale).people, latency_ms, days, reference)
        for round_no in range(repeat):
            for contender in contenders:
                db, scratch = work / f"{contender}-{round_no}.duckdb", work / f"{contender}-{round_no}"
                scratch.mkdir()
                time.sleep(cool_down)
                sandboxes.set("limits", {"reset": True})
                inner = None
                began = time.perf_counter()
                if contender == "ours":
                    rows = run_ours(env, db, world_start, world_end)
                elif contender == "sequential":
                    rows = run_ours(env, db, world_start, world_end, sequential=True)
                elif contender == "ours-dagster":
                    _, inner, rows = run_dagster(env, db, world_start, world_end)
                else:
                    rows = run_dlt(env, db, scratch, read_from, world_end, int(dlt_workers))
                seconds = time.perf_counter() - began
                report = sandboxes.report()
                differ = {t: (rows.get(t, 0), n) for t, n in reference.items() if rows.get(t, 0) != n}
                if differ:
                    raise AssertionError(f"{contender} loaded other rows than the sandbox serves (theirs, sandbox's): {differ}")
                result.runs.append(Run(contender, seconds, rows, violations(report), inner))
                if contender == "ours" and not result.bounds:
                    result.bounds = latency_bounds(report, latency_ms / 1000)
                db.unlink(missing_ok=True)
                shutil.rmtree(scratch, ignore_errors=True)
        if not result.bounds:  # ours did not run: the limit still comes from its requests
            time.sleep(cool_down)
            sandboxes.set("limits", {"reset": True})
            run_ours(env, work / "bounds.duckdb", world_start, world_end)
            result.bounds = latency_bounds(sandboxes.report(), latency_ms / 1000)
    if not quiet:
        out(report_text(result, contenders))
    return result


def report_text(result: Result, contenders: Sequence[str]) -> str:
    lines = [f"machine: {machine()}", "",
             f"Backfill of {result.days} days (+{LOOKBACK_DAYS} of lookback) of every stream ({len(result.reference)} tables, "
             f"{sum(result.reference.values()):,} rows), world scale {result.scale:g} ({result.people:,} people), seed 7; "
             f"the sandbox answers each request {result.latency_ms:g} ms after it arrives. Seconds are min / median over "
             f"{len(result.runs) // max(1, len(contenders))} run(s); every run loaded exactly the sandbox's rows.", ""]
    ours = result.times("ours")
    rows = []
    for contender in contenders:
        times = result.times(contender)
        lo, med, _ = spread(times)
        runs = [r for r in result.runs if r.contender == contender]
        inner = [r.inner_seconds for r in runs if r.inner_seconds is not None]
        seen = sorted({v for r in runs for v in r.violations})
        rows.append([contender + (f" (materialise {spread(inner)[1]:.1f} s)" if inner else ""), f"{lo:.1f}", f"{med:.1f}",
                     f"{med / result.limit:.2f}" if result.limit else "-", f"{med / spread(ours)[1]:.2f}" if ours else "-",
                     "yes" if not seen else "no: " + ", ".join(seen)])
    lines.append(table(["contender", "seconds min", "seconds median", "/ latency limit", "/ ours", "within every limit"], rows))
    lines += ["", f"Latency limit {result.limit:.2f} s: the largest API bound below (the APIs are separate services, so "
              "their bounds overlap instead of adding up).", ""]
    lines.append(table(["API", "requests", "documented limit", "requests x latency / limit (s)", "longest chain",
                        "chain x latency (s)", "bound (s)"],
                       [[b.api, b.requests, b.documented, f"{b.by_limit:.2f}", b.chain, f"{b.by_chain:.2f}", f"{b.seconds:.2f}"]
                        for b in result.bounds]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.backfill", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--days", type=int, default=DAYS)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--dlt-workers", type=int, default=DLT_WORKERS)
    parser.add_argument("--shared-sandbox", action="store_true", help="every API in one sandbox process")
    parser.add_argument("--dagster-run", nargs=2, metavar=("START", "END"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.dagster_run:
        dagster_main(date.fromisoformat(args.dagster_run[0]), date.fromisoformat(args.dagster_run[1]))
        return
    run(args.scale, args.latency_ms, days=args.days, repeat=args.repeat, contenders=args.contenders,
        dlt_workers=args.dlt_workers, shared_sandbox=args.shared_sandbox)


if __name__ == "__main__":
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    main()
