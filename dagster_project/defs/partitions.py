"""Daily partitions for activity streams.

Why partitions rather than a cursor for activity: the APIs slice activity by date (GA4 date
ranges, send times, post times), a day is the unit users backfill and re-run, and Dagster shows
which days are loaded. A range of days runs as ONE run (`BackfillPolicy.single_run()`): one
writer on DuckDB, one request stream per API, instead of one run per day fighting over the lock.
Reference data (CRM contacts, list members) is pulled whole once and then by last-modified
cursor whatever the run's days, because an identity link made long ago still counts today.

Every asset (raw streams, reference streams, dbt models, statistics, publish) shares these
partitions and the single-run policy: Dagster puts assets into one backfill run only when both
match, so a range backfill from the UI or `dagster asset materialize --partition-range` is one run
with one `dbt build`, and publish sees the range in the run's tags.
"""

from __future__ import annotations

import warnings

import dagster as dg

# backfill_policy is a beta parameter we rely on deliberately: one BetaWarning per asset says nothing new
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)

DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_offset=0)
SINGLE_RUN = dg.BackfillPolicy.single_run()
