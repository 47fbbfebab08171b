"""What every connector exposes: stream specs (schema, natural key, window ownership) and pages.

A connector class has `source`, `STREAMS` (a tuple of StreamSpec) and
`read(stream_name, window) -> Iterator[list[dict]]`: a generator of pages, each a list of flat
records whose keys are exactly the stream's schema columns, or, for the streams with the most
rows, an Arrow table with exactly the stream's schema (`connectors/columnar.py`; `page_records`
gives its dicts). Loading (Arrow, DuckDB, merge) is the caller's business; connectors know
nothing of Dagster or dbt.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Protocol

import pyarrow as pa

from connectors.records import observed_at, parse_ts  # noqa: F401 (re-exported: where connectors read them)


@dataclass(frozen=True)
class StreamSpec:
    source: str
    name: str
    schema: pa.Schema
    primary_key: tuple[str, ...]
    # "window": the load replaces every row whose `window_column` falls in the window;
    # "merge": rows are upserted on primary_key (reference data, late-arriving events)
    strategy: str = "merge"
    window_column: str | None = None
    # reference data is pulled whole once, then since `cursor_column`'s max (last-modified)
    cursor_column: str | None = None
    description: str = ""
    # which days a run reads (the caller turns this into the Window it passes):
    #   "activity"    records dated in the run's days plus the lookback (sessions, sends, mentions)
    #   "engagement"  interactions with posts and sends created within the engagement horizon: they
    #                 keep arriving for weeks (reactors, likers, comments, replies, email activity)
    #   "counters"    lifetime counters of posts created within the counter horizon: one listing
    #                 request per page of posts, so they reach further back than the engagement reads
    reach: str = "activity"

    @property
    def table(self) -> str:
        return f"raw_{self.source}.{self.name}"

    def __post_init__(self) -> None:
        missing = [k for k in self.primary_key if k not in self.schema.names]
        if missing or (self.window_column and self.window_column not in self.schema.names):
            raise ValueError(f"{self.source}.{self.name}: key/window columns not in schema: {missing}")
        if self.reach not in REACHES:
            raise ValueError(f"{self.source}.{self.name}: reach {self.reach!r} is not one of {', '.join(REACHES)}")


REACHES = ("activity", "engagement", "counters")


@dataclass(frozen=True)
class Window:
    """Half-open window [start, end) in UTC days, plus an optional reference cursor.

    For engagement reads, [start, end) bounds when the post or send was created and `since` how
    far back its activity is read (the run's own days plus the lookback): a daily run re-reads a
    month of sends but only the last days of their activity."""

    start: date
    end: date
    cursor: datetime | None = None  # last-modified watermark for reference streams
    since: datetime | None = None  # activity on the window's content from this instant (None: from start)

    def __post_init__(self) -> None:
        if self.start >= self.end:
            raise ValueError(f"window start {self.start} must be before end {self.end}")

    @property
    def start_ts(self) -> datetime:
        return datetime.combine(self.start, time(), tzinfo=timezone.utc)

    @property
    def end_ts(self) -> datetime:
        return datetime.combine(self.end, time(), tzinfo=timezone.utc)

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def since_ts(self) -> datetime:
        return self.since or self.start_ts

    def with_cursor(self, cursor: datetime | None) -> Window:
        return Window(self.start, self.end, cursor, self.since)


class Connector(Protocol):
    source: str
    STREAMS: tuple[StreamSpec, ...]

    def read(self, stream: str, window: Window) -> Iterator[list[dict]]: ...


def page_records(page: list[dict] | pa.Table) -> list[dict]:
    """A page's records as dicts, whichever form the connector gave."""
    return page.to_pylist() if isinstance(page, pa.Table) else page


def spec_by_name(streams: tuple[StreamSpec, ...], name: str) -> StreamSpec:
    for spec in streams:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown stream {name!r}; known: {', '.join(s.name for s in streams)}")
