"""Ingestion throughput, side by side: our connector + loader, dlt's rest_api source, and DuckDB's floor.

The same sandbox endpoint (Mailchimp's per-campaign email activity, offset paged, 1,000 per
page), the same records, one table per contender in an empty DuckDB file, merged on the same key:

- ours: `MailchimpClient.read("email_activity")` + `load_stream`, exactly what the asset runs;
- dlt-parquet / dlt-default: dlt 1.31 `rest_api` against the same endpoints (campaigns resolved
  into the activity path), `write_disposition="merge"` on the same key, with
  `loader_file_format="parquet"` and with its default (insert_values);
- floor: the same JSON pages saved to local files beforehand, loaded by DuckDB's `read_json`
  in one INSERT: the speed limit of "JSON into DuckDB" on this machine, with no HTTP at all.

Contenders run alternately (A B C D, A B C D, ...); every run is checked to have loaded exactly
the sandbox's activity rows before any time is printed. Ratios are taken pair by pair per round.

    python -m benchmarks.ingest --records 100000 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import requests

from benchmarks.common import machine, sandbox_process, spread, table

ACTIVITY_PER_SCALE = 7_800  # Mailchimp activity rows per 1.0 of scale (1,000 people, 28 days), seed 7
CONTENDERS = ("ours", "floor", "dlt-parquet", "dlt-default")
DLT_DEFAULT_CAP = 30_000  # insert_values manages ~2.5k rows/s: run it on the first campaigns up to this many rows


@dataclass
class Result:
    records: int
    scale: float
    rounds: list[dict[str, tuple[int, float]]] = field(default_factory=list)  # contender -> (rows, seconds)

    def rate(self, contender: str) -> list[float]:
        return [rows / seconds for r in self.rounds if contender in r for rows, seconds in [r[contender]]]

    def ratios(self, a: str, b: str) -> list[float]:
        return [(r[a][0] / r[a][1]) / (r[b][0] / r[b][1]) for r in self.rounds if a in r and b in r]


def _auth(env: dict[str, str]) -> tuple[str, str]:
    return ("anystring", env["MAILCHIMP_API_KEY"])


def _campaign_ids(env: dict[str, str]) -> list[str]:
    body = requests.get(f"{env['MAILCHIMP_API_URL']}/campaigns", params={"count": 1000, "status": "sent"},
                        auth=_auth(env), timeout=60).json()
    return [c["id"] for c in body["campaigns"]]


def expected_rows(env: dict[str, str], campaigns: list[str]) -> int:
    """Activity items the sandbox serves for these campaigns (one row each)."""
    total = 0
    for cid in campaigns:
        offset = 0
        while True:
            body = requests.get(f"{env['MAILCHIMP_API_URL']}/reports/{cid}/email-activity", params={"count": 1000, "offset": offset},
                                auth=_auth(env), timeout=60).json()
            total += sum(len(e["activity"]) for e in body["emails"])
            offset += 1000
            if offset >= body["total_items"]:
                break
    return total


def run_ours(env: dict[str, str], db: Path) -> int:
    from connectors.mailchimp import MailchimpClient
    from connectors.sandbox.world import WorldConfig
    from connectors.streams import Window, spec_by_name
    from dagster_project.lib.warehouse import load_stream

    client = MailchimpClient.from_settings(api_key=env["MAILCHIMP_API_KEY"], base_url=env["MAILCHIMP_API_URL"])
    start = WorldConfig().start
    window = Window(start.replace(year=start.year - 1), start.replace(year=start.year + 1))
    spec = spec_by_name(MailchimpClient.STREAMS, "email_activity")
    return load_stream(db, spec, client.read("email_activity", window), window).table_rows


def save_pages(env: dict[str, str], campaigns: list[str], directory: Path) -> int:
    """The floor's input: every email-activity page as the API sent it, one JSON file each."""
    n = 0
    for cid in campaigns:
        offset = 0
        while True:
            response = requests.get(f"{env['MAILCHIMP_API_URL']}/reports/{cid}/email-activity",
                                    params={"count": 1000, "offset": offset}, auth=_auth(env), timeout=60)
            (directory / f"{n:06d}.json").write_bytes(response.content)
            n += 1
            offset += 1000
            if offset >= response.json()["total_items"]:
                break
    return n


def run_floor(pages: Path, db: Path) -> int:
    con = duckdb.connect(str(db))
    try:
        con.execute("create schema raw_mailchimp")
        con.execute(f"""
            create table raw_mailchimp.email_activity as
            with e as (select unnest(emails) as e from read_json('{pages}/*.json', maximum_object_size = 67108864)),
            a as (select e, unnest(e.activity) as a from e)
            select md5(concat_ws('|', e.campaign_id, e.email_id, a.action, a.timestamp, a.url)) as activity_id,
                   e.campaign_id, e.list_id, e.email_id, e.email_address, a.action as action,
                   cast(a.timestamp as timestamptz) as timestamp, a.url as url, a.type as bounce_type, a.ip as ip
            from a
        """)
        return con.execute("select count(*) from raw_mailchimp.email_activity").fetchone()[0]
    finally:
        con.close()


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


def run(records: int = 100_000, repeats: int = 3, contenders: tuple[str, ...] = CONTENDERS, seed: int = 7, quiet: bool = False) -> Result:
    scale = max(0.05, records / ACTIVITY_PER_SCALE)
    result = Result(records=0, scale=scale)
    with sandbox_process(scale, seed=seed) as sandbox, tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        env, work = sandbox.env, Path(tmp)
        campaigns = _campaign_ids(env)
        result.records = expected_rows(env, campaigns)
        capped, capped_rows = [], 0
        for cid in campaigns:  # dlt-default's subset: whole campaigns up to the cap
            rows = expected_rows(env, [cid])
            if capped and capped_rows + rows > DLT_DEFAULT_CAP:
                break
            capped.append(cid)
            capped_rows += rows
        pages = work / "pages"
        pages.mkdir()
        save_pages(env, campaigns, pages)
        for round_no in range(repeats):
            timings: dict[str, tuple[int, float]] = {}
            for contender in contenders:
                db = work / f"{contender}-{round_no}.duckdb"
                began = time.perf_counter()
                if contender == "ours":
                    rows = run_ours(env, db)
                elif contender == "floor":
                    rows = run_floor(pages, db)
                elif contender == "dlt-parquet":
                    rows = run_dlt(env, db, work / str(round_no), "parquet")
                elif contender == "dlt-default":
                    rows = run_dlt(env, db, work / str(round_no), None, capped)
                else:
                    raise ValueError(f"unknown contender {contender!r}; choose from {', '.join(CONTENDERS)}")
                seconds = time.perf_counter() - began
                want = capped_rows if contender == "dlt-default" else result.records
                if rows != want:
                    raise AssertionError(f"{contender} loaded {rows} activity rows, the sandbox served {want}")
                timings[contender] = (rows, seconds)
                db.unlink(missing_ok=True)
                shutil.rmtree(work / str(round_no), ignore_errors=True)
            result.rounds.append(timings)
    if not quiet:
        print(report(result, contenders))
    return result


def report(result: Result, contenders: tuple[str, ...]) -> str:
    lines = [f"machine: {machine()}",
             f"Mailchimp email activity: {result.records:,} rows (scale {result.scale:.2f}, seed 7), "
             f"{len(result.rounds)} alternating rounds; dlt-default runs on the first campaigns up to {DLT_DEFAULT_CAP:,} rows", ""]
    rows = []
    for c in contenders:
        lo, med, hi = spread(result.rate(c))
        rows.append([c, f"{result.rounds[0][c][0]:,}", f"{lo:,.0f}", f"{med:,.0f}", f"{hi:,.0f}"])
    lines.append(table(["contender", "rows", "rows/s min", "rows/s median", "rows/s max"], rows))
    pairs = [("ours", other) for other in ("dlt-parquet", "dlt-default", "floor") if "ours" in contenders and other in contenders]
    if pairs:
        lines += ["", table(["ratio (pair by pair per round)", "min", "median", "max"],
                            [[f"{a} / {b}", *(f"{v:.2f}" for v in spread(result.ratios(a, b)))] for a, b in pairs])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="email-activity rows to aim for")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    args = parser.parse_args(argv)
    run(args.records, args.repeats, tuple(c.strip() for c in args.contenders.split(",") if c.strip()))


if __name__ == "__main__":
    main()
