"""What the engagement horizon costs a daily run: requests per stream, with and without it.

The daily run of the world's last day is read twice against the same sandbox clock: once as the
pipeline reads it by default (interactions of posts and sends younger than ENGAGEMENT_HORIZON_DAYS,
counters younger than ENGAGEMENT_COUNTER_HORIZON_DAYS), once with both horizons at 0 (the lookback
alone, as before the horizon existed). Requests and records come from the connectors' own counters;
X's rate-limited endpoints are compared with the calls X allows per 15-minute window.

`python -m benchmarks horizon [--scale 1.0] [--days 28]`
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from benchmarks.common import machine, table
from connectors.sandbox.api_x import RATE_LIMITS
from connectors.sandbox.server import SandboxServer
from connectors.sandbox.world import World, WorldConfig
from dagster_project.defs.ingestion import stream_window
from dagster_project.lib import clients
from dagster_project.lib.settings import load_settings

SOURCES = ("mailchimp", "x", "facebook")  # the sources with content that keeps collecting engagement
X_ENDPOINTS = ("x.liking_users", "x.retweeted_by")  # the sandbox's names of X's rate-limited routes
SETTINGS = {"default horizon": {}, "lookback only": {"ENGAGEMENT_HORIZON_DAYS": "0", "ENGAGEMENT_COUNTER_HORIZON_DAYS": "0"}}


def read_one_day(world: World, env: dict[str, str]) -> tuple[dict[str, tuple[int, int]], dict[str, int]]:
    """({stream: (requests, records)}, {X endpoint: calls}) of the daily run for the world's last day,
    at 03:00 the day after."""
    day = world.end - timedelta(days=1)
    streams = {}
    with SandboxServer(world) as sandbox:
        sandbox.now = datetime(world.end.year, world.end.month, world.end.day, 3, tzinfo=timezone.utc)
        settings = load_settings({**sandbox.env(), **env})
        for source in SOURCES:
            for spec in clients.CONNECTORS[source].STREAMS:
                if spec.cursor_column:  # reference data: the same with or without a horizon
                    continue
                client = clients.build_client(source, settings)
                records = sum(len(page) for page in client.read(spec.name, stream_window(spec, day, world.end, settings)))
                streams[f"{source}.{spec.name}"] = (client.stats.requests, records)
        calls = {endpoint: sandbox.requests[endpoint] for endpoint in X_ENDPOINTS}
    return streams, calls


def run(scale: float = 1.0, days: int = 28, seed: int = 7, out=print) -> dict:
    world = World(WorldConfig.at_scale(float(scale), seed=int(seed), days=int(days)))
    results = {label: read_one_day(world, env) for label, env in SETTINGS.items()}
    (with_h, calls), (without, _) = results["default horizon"], results["lookback only"]
    rows = [[s, without[s][0], with_h[s][0], with_h[s][0] - without[s][0], without[s][1], with_h[s][1]] for s in sorted(with_h)]
    totals = {label: sum(r for r, _ in streams.values()) for label, (streams, _) in results.items()}
    rows.append(["**all**", totals["lookback only"], totals["default horizon"],
                 totals["default horizon"] - totals["lookback only"], "", ""])
    out(f"{machine()}\n\nworld: scale {scale}, {days} days, seed {seed}; the daily run of {world.end - timedelta(days=1)}\n")
    out(table(["stream", "requests, lookback only", "requests, default horizon", "extra", "records, lookback only",
               "records, default horizon"], rows))
    out("\n" + table(["X endpoint", "calls in the run", "allowed per 15 min"],
                      [[e, calls[e], RATE_LIMITS[e]] for e in X_ENDPOINTS]))
    return {"requests": totals, "x_calls": calls, "per_stream": {label: streams for label, (streams, _) in results.items()}}
