"""The in-memory Dagster instance of a refresh that no UI will ever read (no DAGSTER_HOME: tests, benchmarks, scripts).

Before a run over a range of days starts, Dagster records its plan: with its own storages, one
"planned" event per asset per day. The pipeline has 86 assets (raw streams, dbt models,
statistics, publish), so a 28-day refresh recorded 2,408 events before its first request and a
90-day one 7,740. A storage may instead record one event per asset naming the whole range;
Dagster's own storages do not, because the UI could then no longer mark the days of a failed run
as failed. An instance that is dropped when the process ends has no UI, so this one records one
event per asset: a 28-day refresh on the test world took 23.1 s before and 19.0 s after.

Runs recorded in DAGSTER_HOME (the daily schedule, `engagement demo`, `engagement dev`) keep
Dagster's per-day events, so the UI's partition view is unchanged.
"""

from __future__ import annotations

import dagster as dg
from dagster._core.instance import InstanceType
from dagster._core.launcher.sync_in_memory_run_launcher import SyncInMemoryRunLauncher
from dagster._core.run_coordinator import DefaultRunCoordinator
from dagster._core.storage.event_log import InMemoryEventLogStorage
from dagster._core.storage.noop_compute_log_manager import NoOpComputeLogManager
from dagster._core.storage.root import TemporaryLocalArtifactStorage
from dagster._core.storage.runs import InMemoryRunStorage


class RangePlannedEventLog(InMemoryEventLogStorage):
    """In-memory event log that records a range run's plan as one event per asset, with the range."""

    @property
    def supports_partition_subset_in_asset_materialization_planned_events(self) -> bool:
        return True


def throwaway_instance() -> dg.DagsterInstance:
    """What `DagsterInstance.ephemeral()` builds, with the event log above."""
    return dg.DagsterInstance(
        instance_type=InstanceType.EPHEMERAL,
        local_artifact_storage=TemporaryLocalArtifactStorage(),
        run_storage=InMemoryRunStorage(),
        event_storage=RangePlannedEventLog(),
        compute_log_manager=NoOpComputeLogManager(),
        run_coordinator=DefaultRunCoordinator(),
        run_launcher=SyncInMemoryRunLauncher(),
    )
