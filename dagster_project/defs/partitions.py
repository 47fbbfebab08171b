"""Daily partitions for activity streams.

Why partitions rather than a cursor for activity: the APIs slice activity by date (GA4 date
ranges, send times, post times), a day is the unit users backfill and re-run, and Dagster shows
which days are loaded. A range of days runs as ONE run (`BackfillPolicy.single_run()`): one
writer on DuckDB, one request stream per API, instead of one run per day fighting over the lock.
Reference data (CRM contacts, list members) is not partitioned: it is pulled whole once and then
by last-modified cursor, because an identity link made long ago still counts today.
"""

from __future__ import annotations

import dagster as dg

DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_offset=0)
SINGLE_RUN = dg.BackfillPolicy.single_run()
