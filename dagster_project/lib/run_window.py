"""A run's days as a half-open window [start, end), to and from Dagster's run tags (no Dagster import)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
PARTITION_TAG = "dagster/partition"
BACKFILL_TAG = "dagster/backfill"


def range_tags(start: date, end: date) -> dict[str, str]:
    """Tags that make one run own the daily partitions of [start, end) (Dagster's range end is inclusive)."""
    return {RANGE_START_TAG: start.isoformat(), RANGE_END_TAG: (end - timedelta(days=1)).isoformat()}


def run_window(tags: Mapping[str, str]) -> tuple[date, date] | None:
    """The run's days: a partition range (CLI, backfills) or one partition (the schedule); None otherwise."""
    if RANGE_START_TAG in tags and RANGE_END_TAG in tags:
        return date.fromisoformat(tags[RANGE_START_TAG]), date.fromisoformat(tags[RANGE_END_TAG]) + timedelta(days=1)
    if PARTITION_TAG in tags:
        day = date.fromisoformat(tags[PARTITION_TAG])
        return day, day + timedelta(days=1)
    return None


def spanning_window(windows: Iterable[tuple[date, date] | None]) -> tuple[date, date] | None:
    """The days from the first window's start to the last one's end; None when there is none."""
    known = [w for w in windows if w is not None]
    if not known:
        return None
    return min(w[0] for w in known), max(w[1] for w in known)
