"""Ingestion throughput, side by side: our connector + loader, dlt's rest_api source, and DuckDB's floor.

Two sandbox endpoints, each with the same records, one table per contender in an empty DuckDB
file, merged on the same key:

- Mailchimp's per-campaign email activity (GET, offset paged, 1,000 per page);
- GA4's identified-user report, runReport by date x session campaign x user id (POST, offset in
  the body, 10,000 rows per page).

Per endpoint:

- ours: the client's `read(stream)` + `load_stream`, exactly what the asset runs;
- ours-dicts: the same with the client's columnar pages turned off (`columnar_pages=False`): every
  record built as a Python dict, as before pages were decoded into Arrow columns;
- dlt-parquet / dlt-default: dlt 1.31 `rest_api` against the same endpoints (Mailchimp: campaigns
  resolved into the activity path; GA4: the same POST body, GA4's rows flattened by a map step),
  `write_disposition="merge"` on the same key, with `loader_file_format="parquet"` and with its
  default (insert_values);
- floor: the same JSON pages saved to local files beforehand, loaded by DuckDB's `read_json`
  in one INSERT: the speed limit of "JSON into DuckDB" on this machine, with no HTTP at all;
- http-only: the same pages fetched from the sandbox and written to disk unparsed (only the first
  page of each collection is parsed, for its total): the speed of the sandbox (a Python server on
  the same 2 cores), which ours and dlt pay and the floor does not.

Contenders run alternately (A B C D, A B C D, ...); every run is checked to have loaded exactly
the sandbox's activity rows before any time is printed. Ratios are taken pair by pair per round.
Besides wall time, each run's CPU seconds are those of this process alone (every thread, plus any
child it starts), never the sandbox's: the sandbox is its own process, so its encoding is not
billed to the contender that waits for it.

    python -m benchmarks.ingest --records 100000 --repeats 3 [--endpoints mailchimp,ga4]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import requests

from benchmarks.common import machine, sandbox_process, spread, table

ACTIVITY_PER_SCALE = 7_800  # Mailchimp activity rows per 1.0 of scale (1,000 people, 28 days), seed 7
USER_ROWS_PER_SCALE = 2_300  # GA4 identified-user report rows per 1.0 of scale, seed 7
CONTENDERS = ("ours", "ours-dicts", "floor", "http-only", "dlt-parquet", "dlt-default")
ENDPOINTS = ("mailchimp", "ga4")
DLT_DEFAULT_CAP = 30_000  # insert_values manages ~2.5k rows/s: run it on the first rows up to about this many
GA4_PAGE = 10_000  # GA4's default page size, for every contender


@dataclass
class Result:
    records: int
    scale: float
    endpoint: str = "mailchimp"
    rounds: list[dict[str, tuple[int, float]]] = field(default_factory=list)  # contender -> (rows, seconds)
    cpu: list[dict[str, float]] = field(default_factory=list)  # contender -> CPU seconds of this process, per round

    def rate(self, contender: str) -> list[float]:
        return [rows / seconds for r in self.rounds if contender in r for rows, seconds in [r[contender]]]

    def ratios(self, a: str, b: str) -> list[float]:
        return [(r[a][0] / r[a][1]) / (r[b][0] / r[b][1]) for r in self.rounds if a in r and b in r]

    def cpu_per_million(self, contender: str) -> list[float]:
        return [cpu[contender] / r[contender][0] * 1e6 for r, cpu in zip(self.rounds, self.cpu, strict=True) if contender in cpu]

    def cpu_ratios(self, a: str, b: str) -> list[float]:
        return [(cpu[a] / r[a][0]) / (cpu[b] / r[b][0]) for r, cpu in zip(self.rounds, self.cpu, strict=True)
                if a in cpu and b in cpu]


def process_cpu_seconds() -> float:
    """CPU seconds of this process (all its threads) and its finished children: never the sandbox's process."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _auth(env: dict[str, str]) -> tuple[str, str]:
    return ("anystring", env["MAILCHIMP_API_KEY"])


def _campaign_ids(env: dict[str, str]) -> list[str]:
    body = requests.get(f"{env['MAILCHIMP_API_URL']}/campaigns", params={"count": 1000, "status": "sent"},
                        auth=_auth(env), timeout=60).json()
    return [c["id"] for c in body["campaigns"]]


# every contender asks for what our connector asks for: activity without machine (Apple proxy) opens
HUMAN_ACTIVITY = {"filter_bots": "true"}

def expected_rows(env: dict[str, str], campaigns: list[str]) -> int:
    """Activity items the sandbox serves for these campaigns (one row each)."""
    total = 0
    for cid in campaigns:
        offset = 0
        while True:
            body = requests.get(f"{env['MAILCHIMP_API_URL']}/reports/{cid}/email-activity",
                                params={"count": 1000, "offset": offset, **HUMAN_ACTIVITY},
                                auth=_auth(env), timeout=60).json()
            total += sum(len(e["activity"]) for e in body["emails"])
            offset += 1000
            if offset >= body["total_items"]:
                break
    return total


def run_ours(env: dict[str, str], db: Path, columnar: bool = True) -> int:
    from connectors.mailchimp import MailchimpClient
    from connectors.sandbox.world import WorldConfig
    from connectors.streams import Window, spec_by_name
    from dagster_project.lib.warehouse import load_stream

    client = MailchimpClient.from_settings(api_key=env["MAILCHIMP_API_KEY"], base_url=env["MAILCHIMP_API_URL"],
                                           columnar_pages=columnar)
    start = WorldConfig().start
    window = Window(start.replace(year=start.year - 1), start.replace(year=start.year + 1))
    spec = spec_by_name(MailchimpClient.STREAMS, "email_activity")
    return load_stream(db, spec, client.read("email_activity", window), window).table_rows


def save_pages(env: dict[str, str], campaigns: list[str], directory: Path) -> int:
    """The floor's input: every email-activity page as the API sent it, one JSON file each."""
    n = 0
    for cid in campaigns:
        offset, total = 0, None
        while True:
            response = requests.get(f"{env['MAILCHIMP_API_URL']}/reports/{cid}/email-activity",
                                    params={"count": 1000, "offset": offset, **HUMAN_ACTIVITY}, auth=_auth(env), timeout=60)
            (directory / f"{n:06d}.json").write_bytes(response.content)
            n += 1
            offset += 1000
            total = response.json()["total_items"] if total is None else total  # the first page's: no other is parsed
            if offset >= total:
                break
    return n


def _load_floor(db: Path, table: str, select_sql: str) -> int:
    """The floor: one CREATE TABLE AS over DuckDB's read_json of the saved pages; returns its row count."""
    con = duckdb.connect(str(db))
    try:
        con.execute(f"create schema {table.split('.')[0]}")
        con.execute(f"create table {table} as {select_sql}")
        return con.execute(f"select count(*) from {table}").fetchone()[0]
    finally:
        con.close()


def run_floor(pages: Path, db: Path) -> int:
    return _load_floor(db, "raw_mailchimp.email_activity", f"""
            with e as (select unnest(emails) as e from read_json('{pages}/*.json', maximum_object_size = 67108864)),
            a as (select e, unnest(e.activity) as a from e)
            select md5(concat_ws('|', e.campaign_id, e.email_id, a.action, a.timestamp, a.url)) as activity_id,
                   e.campaign_id, e.list_id, e.email_id, e.email_address, a.action as action,
                   cast(a.timestamp as timestamptz) as timestamp, a.url as url, a.type as bounce_type, a.ip as ip
            from a
        """)


def run_dlt(env: dict[str, str], db: Path, work: Path, file_format: str | None, campaigns: list[str] | None = None) -> int:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import dlt
    from dlt.sources.rest_api import rest_api_source

    campaign_resource: dict = {
        "name": "campaigns",
        "endpoint": {"path": "campaigns", "params": {"status": "sent"}, "data_selector": "campaigns",
                     "paginator": {"type": "offset", "limit": 1000, "limit_param": "count", "total_path": "total_items"}},
        "selected": False,
    }
    if campaigns is not None:  # a fixed subset: dlt's default loader is too slow for all of them
        campaign_resource = {"name": "campaigns", "endpoint": {"path": "campaigns", "data_selector": "campaigns",
                                                                  "params": {"count": 1000, "status": "sent"},
                                                                  "paginator": "single_page"},
                             "processing_steps": [{"filter": lambda c: c["id"] in campaigns}], "selected": False}
    source = rest_api_source({
        "client": {"base_url": env["MAILCHIMP_API_URL"] + "/",
                   "auth": {"type": "http_basic", "username": "anystring", "password": env["MAILCHIMP_API_KEY"]}},
        "resources": [
            campaign_resource,
            {
                "name": "email_activity",
                "primary_key": ["campaign_id", "email_id"],
                "write_disposition": "merge",
                "endpoint": {
                    "path": "reports/{resources.campaigns.id}/email-activity",
                    "params": dict(HUMAN_ACTIVITY),
                    "data_selector": "emails",
                    "paginator": {"type": "offset", "limit": 1000, "limit_param": "count", "total_path": "total_items"},
                },
            },
        ],
    })
    pipeline = dlt.pipeline(pipeline_name=f"bench_{file_format or 'default'}", pipelines_dir=str(work / "dlt"),
                            destination=dlt.destinations.duckdb(str(db)), dataset_name="raw_mailchimp")
    pipeline.run(source, loader_file_format=file_format) if file_format else pipeline.run(source)
    con = duckdb.connect(str(db), read_only=True)
    try:  # dlt keeps each recipient's activity list in a child table: one row per activity item, as ours
        return con.execute("select count(*) from raw_mailchimp.email_activity__activity").fetchone()[0]
    finally:
        con.close()


# --- GA4: the identified-user report ------------------------------------------------------------

GA4_DIMENSIONS = ("date", "sessionCampaignName", "customUser:site_user_id")
GA4_METRICS = ("sessions", "engagedSessions", "screenPageViews", "userEngagementDuration", "activeUsers")


def _ga4_window():
    from connectors.sandbox.world import WorldConfig
    from connectors.streams import Window

    start = WorldConfig().start
    return Window(start.replace(year=start.year - 1), start.replace(year=start.year + 1))


def _ga4_body(offset: int, limit: int = GA4_PAGE) -> dict:
    """The request our connector sends for user_daily (same dimensions, metrics, order, page size)."""
    window = _ga4_window()
    return {"dateRanges": [{"startDate": window.start.isoformat(), "endDate": window.last_day.isoformat()}],
            "dimensions": [{"name": d} for d in GA4_DIMENSIONS], "metrics": [{"name": m} for m in GA4_METRICS],
            "orderBys": [{"dimension": {"dimensionName": d}} for d in GA4_DIMENSIONS],
            "limit": limit, "offset": offset, "keepEmptyRows": False}


def _ga4_post(env: dict[str, str], offset: int, limit: int = GA4_PAGE) -> requests.Response:
    return requests.post(f"{env['GA4_API_URL']}/properties/{env['GA4_PROPERTY_ID']}:runReport", json=_ga4_body(offset, limit),
                         headers={"Authorization": f"Bearer {env['GA4_ACCESS_TOKEN']}"}, timeout=300)


def ga4_expected_rows(env: dict[str, str]) -> int:
    return int(_ga4_post(env, 0, 1).json()["rowCount"])


def run_ours_ga4(env: dict[str, str], db: Path, columnar: bool = True) -> int:
    from connectors.ga4 import USER_DAILY, Ga4Client
    from dagster_project.lib.warehouse import load_stream

    client = Ga4Client.from_settings(env["GA4_PROPERTY_ID"], env["GA4_ACCESS_TOKEN"], base_url=env["GA4_API_URL"],
                                     page_size=GA4_PAGE, columnar_pages=columnar)
    window = _ga4_window()
    return load_stream(db, USER_DAILY, client.read("user_daily", window), window).table_rows


def save_ga4_pages(env: dict[str, str], directory: Path) -> int:
    n, offset, total = 0, 0, None
    while True:
        response = _ga4_post(env, offset)
        (directory / f"{n:06d}.json").write_bytes(response.content)
        n += 1
        offset += GA4_PAGE
        total = int(response.json()["rowCount"]) if total is None else total  # the first page's: no other is parsed
        if offset >= total:
            return n


def run_floor_ga4(pages: Path, db: Path) -> int:
    return _load_floor(db, "raw_ga4.user_daily", f"""
            with r as (select unnest(rows) as r from read_json('{pages}/*.json', maximum_object_size = 268435456))
            select strptime(r.dimensionValues[1].value, '%Y%m%d')::date as date,
                   r.dimensionValues[2].value as campaign, r.dimensionValues[3].value as user_id,
                   cast(r.metricValues[1].value as bigint) as sessions,
                   cast(r.metricValues[2].value as bigint) as engaged_sessions,
                   cast(r.metricValues[3].value as bigint) as screen_page_views,
                   cast(r.metricValues[4].value as double) as user_engagement_duration,
                   cast(r.metricValues[5].value as bigint) as active_users
            from r
        """)


def _flatten_ga4_row(row: dict) -> dict:
    """What a dlt user writes for GA4: the positional value lists become named columns."""
    dims = [v["value"] for v in row["dimensionValues"]]
    metrics = [v["value"] for v in row["metricValues"]]
    return {"date": dims[0], "campaign": dims[1], "user_id": dims[2],
            "sessions": int(metrics[0]), "engaged_sessions": int(metrics[1]), "screen_page_views": int(metrics[2]),
            "user_engagement_duration": float(metrics[3]), "active_users": int(metrics[4])}


def run_dlt_ga4(env: dict[str, str], db: Path, work: Path, file_format: str | None, cap: int | None = None) -> int:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import dlt
    from dlt.sources.rest_api import rest_api_source

    body = _ga4_body(0)
    body.pop("offset")
    paginator = {"type": "offset", "limit": GA4_PAGE, "offset_body_path": "offset", "limit_body_path": "limit",
                 "total_path": "rowCount", **({"maximum_offset": cap} if cap else {})}
    source = rest_api_source({
        "client": {"base_url": env["GA4_API_URL"] + "/",
                   "auth": {"type": "bearer", "token": env["GA4_ACCESS_TOKEN"]}},
        "resources": [{
            "name": "user_daily",
            "primary_key": ["date", "campaign", "user_id"],
            "write_disposition": "merge",
            "endpoint": {"path": f"properties/{env['GA4_PROPERTY_ID']}:runReport", "method": "POST", "json": body,
                         "data_selector": "rows", "paginator": paginator},
            "processing_steps": [{"map": _flatten_ga4_row}],
        }],
    })
    pipeline = dlt.pipeline(pipeline_name=f"bench_ga4_{file_format or 'default'}", pipelines_dir=str(work / "dlt"),
                            destination=dlt.destinations.duckdb(str(db)), dataset_name="raw_ga4")
    pipeline.run(source, loader_file_format=file_format) if file_format else pipeline.run(source)
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("select count(*) from raw_ga4.user_daily").fetchone()[0]
    finally:
        con.close()


def _http_only(save, scratch: Path, rows: int) -> int:
    """The sandbox's own speed: every page fetched and written to disk as bytes, nothing parsed.
    Ours and dlt pay it; the floor (pages read from local files) does not."""
    scratch.mkdir(parents=True, exist_ok=True)
    save(scratch)
    return rows


def run_endpoint(endpoint: str, records: int, repeats: int, contenders: tuple[str, ...], seed: int) -> Result:
    per_scale = ACTIVITY_PER_SCALE if endpoint == "mailchimp" else USER_ROWS_PER_SCALE
    scale = max(0.05, records / per_scale)
    result = Result(records=0, scale=scale, endpoint=endpoint)
    with sandbox_process(scale, seed=seed) as sandbox, tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        env, work = sandbox.env, Path(tmp)
        pages = work / "pages"
        pages.mkdir()
        if endpoint == "mailchimp":
            campaigns = _campaign_ids(env)
            result.records = expected_rows(env, campaigns)
            capped, capped_rows = [], 0
            for cid in campaigns:  # dlt-default's subset: whole campaigns up to the cap
                rows = expected_rows(env, [cid])
                if capped and capped_rows + rows > DLT_DEFAULT_CAP:
                    break
                capped.append(cid)
                capped_rows += rows
            save_pages(env, campaigns, pages)
            contestants = {
                "ours": lambda db, w: run_ours(env, db),
                "ours-dicts": lambda db, w: run_ours(env, db, columnar=False),
                "floor": lambda db, w: run_floor(pages, db),
                "http-only": lambda db, w: _http_only(lambda d: save_pages(env, campaigns, d), w, result.records),
                "dlt-parquet": lambda db, w: run_dlt(env, db, w, "parquet"),
                "dlt-default": lambda db, w: run_dlt(env, db, w, None, capped),
            }
        elif endpoint == "ga4":
            result.records = ga4_expected_rows(env)
            cap = max(GA4_PAGE, DLT_DEFAULT_CAP // GA4_PAGE * GA4_PAGE)  # whole pages
            capped_rows = min(result.records, cap)
            save_ga4_pages(env, pages)
            contestants = {
                "ours": lambda db, w: run_ours_ga4(env, db),
                "ours-dicts": lambda db, w: run_ours_ga4(env, db, columnar=False),
                "floor": lambda db, w: run_floor_ga4(pages, db),
                "http-only": lambda db, w: _http_only(lambda d: save_ga4_pages(env, d), w, result.records),
                "dlt-parquet": lambda db, w: run_dlt_ga4(env, db, w, "parquet"),
                "dlt-default": lambda db, w: run_dlt_ga4(env, db, w, None, cap),
            }
        else:
            raise ValueError(f"unknown endpoint {endpoint!r}; choose from {', '.join(ENDPOINTS)}")
        for round_no in range(repeats):
            timings: dict[str, tuple[int, float]] = {}
            cpu: dict[str, float] = {}
            for contender in contenders:
                if contender not in contestants:
                    raise ValueError(f"unknown contender {contender!r}; choose from {', '.join(CONTENDERS)}")
                db, scratch = work / f"{contender}-{round_no}.duckdb", work / str(round_no)
                began, cpu_began = time.perf_counter(), process_cpu_seconds()
                rows = contestants[contender](db, scratch)
                seconds, cpu[contender] = time.perf_counter() - began, process_cpu_seconds() - cpu_began
                want = capped_rows if contender == "dlt-default" else result.records
                if rows != want:
                    raise AssertionError(f"{endpoint}: {contender} loaded {rows} rows, the sandbox served {want}")
                timings[contender] = (rows, seconds)
                db.unlink(missing_ok=True)
                shutil.rmtree(scratch, ignore_errors=True)
            result.rounds.append(timings)
            result.cpu.append(cpu)
    return result


def run(records: int | Sequence[int] = 100_000, repeats: int = 3, contenders: tuple[str, ...] = CONTENDERS, seed: int = 7,
        quiet: bool = False, endpoints: tuple[str, ...] = ENDPOINTS, repeat: int | None = None) -> dict[str, Result]:
    """Each endpoint in its own sandbox sized for `records` rows of it; prints the tables unless quiet.
    (`repeat` and a one-element `records` list are what `python -m benchmarks ingest` passes.)"""
    if not isinstance(records, int):
        (records,) = records
    repeats = repeat if repeat is not None else repeats
    if isinstance(endpoints, str):
        endpoints = tuple(e.strip() for e in endpoints.split(",") if e.strip())
    if isinstance(contenders, str):
        contenders = tuple(c.strip() for c in contenders.split(",") if c.strip())
    results = {e: run_endpoint(e, int(records), int(repeats), contenders, int(seed)) for e in endpoints}
    if not quiet:
        print(report(results, contenders))
    return results


LABELS = {"mailchimp": "Mailchimp email activity", "ga4": "GA4 identified-user report"}


def report(results: dict[str, Result], contenders: tuple[str, ...]) -> str:
    lines = [f"machine: {machine()}", ""]
    for endpoint, result in results.items():
        lines += [f"{LABELS[endpoint]}: {result.records:,} rows (scale {result.scale:.2f}), "
                  f"{len(result.rounds)} alternating rounds; dlt-default runs on the first rows up to about {DLT_DEFAULT_CAP:,}", ""]
        rows = []
        for c in contenders:
            lo, med, hi = spread(result.rate(c))
            rows.append([c, f"{result.rounds[0][c][0]:,}", f"{lo:,.0f}", f"{med:,.0f}", f"{hi:,.0f}"])
        lines.append(table(["contender", "rows", "rows/s min", "rows/s median", "rows/s max"], rows))
        pairs = [("ours", other) for other in ("ours-dicts", "dlt-parquet", "dlt-default", "floor", "http-only")
                 if "ours" in contenders and other in contenders]
        if pairs:
            lines += ["", table(["ratio (pair by pair per round)", "min", "median", "max"],
                                [[f"{a} / {b}", *(f"{v:.2f}" for v in spread(result.ratios(a, b)))] for a, b in pairs])]
        lines += ["", "CPU seconds of the pipeline process alone (the sandbox is another process), per million rows", "",
                  table(["contender", "CPU s / M rows min", "median", "max"],
                        [[c, *(f"{v:.1f}" for v in spread(result.cpu_per_million(c)))] for c in contenders])]
        cpu_pairs = [("ours", other) for other in ("ours-dicts", "floor", "dlt-parquet", "dlt-default") if "ours" in contenders and other in contenders]
        if cpu_pairs:
            lines += ["", table(["CPU per row (pair by pair per round)", "min", "median", "max"],
                                [[f"{a} / {b}", *(f"{v:.2f}" for v in spread(result.cpu_ratios(a, b)))] for a, b in cpu_pairs])]
        lines.append("")
    return "\n".join(lines)

def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="rows to aim for, per endpoint")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--endpoints", default=",".join(ENDPOINTS))
    args = parser.parse_args(argv)
    run(args.records, args.repeats, args.contenders, endpoints=args.endpoints)


if __name__ == "__main__":
    main()
