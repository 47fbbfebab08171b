"""Every stream of a run fetched at once, loaded one after another.

Dagster runs the ingestion assets one step at a time (DuckDB has one writer), and at real API
latency a step spends almost all its time waiting for answers. So the first ingestion step of a run
starts reading every other stream of the run on its own thread, each into a spool, and each step
then takes its stream's pages from its spool,
fetched already or still arriving, while the loads stay in step order. Pages wait in memory up to
a budget for the whole run (MEMORY_RECORDS) and beyond it in their spool's file. Each API's documented limits
hold across all of them: every client of an account shares its gate (`connectors.http.Gate`).

A stream is read ahead only with the window its own step would read (the run's days; a reference
stream's cursor); a step whose window differs, or a run whose steps cannot be listed, reads as before.
A read-ahead's error is raised by its own step, as a direct read's would be.
"""

from __future__ import annotations

import atexit
import os
import pickle
import shutil
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from connectors.http import ApiClient, RequestStats
from connectors.streams import StreamSpec, Window

Progress = Callable[[str, RequestStats], None]


class Budget:
    """Records the spools of one run may hold in memory together; pages beyond it go to disk."""

    def __init__(self, records: int) -> None:
        self.left = records
        self._lock = threading.Lock()

    def take(self, records: int) -> bool:
        with self._lock:
            if records > self.left:
                return False
            self.left -= records
            return True

    def give(self, records: int) -> None:
        with self._lock:
            self.left += records


class Spool:
    """Pages handed by one thread to another in order, as they come: in memory within the run's
    budget (no copy, no CPU), else pickled to a local file (memory stays flat however far the
    reading runs ahead of the loading)."""

    def __init__(self, path: str, budget: Budget) -> None:
        self.path = path
        self._budget = budget
        self._out = None  # the file, opened at the first page that does not fit the budget
        self._entries: deque[tuple[list[dict] | None, int]] = deque()  # (page, or None: the next frame on disk; records)
        self._done = False
        self._error: BaseException | None = None
        self._changed = threading.Condition()

    def put(self, page: list[dict]) -> None:
        if self._budget.take(len(page)):
            entry: tuple[list[dict] | None, int] = (page, len(page))
        else:
            frame = pickle.dumps(page, protocol=pickle.HIGHEST_PROTOCOL)
            if self._out is None:
                self._out = open(self.path, "wb")  # noqa: SIM115 (closed by finish)
            self._out.write(len(frame).to_bytes(8, "little"))
            self._out.write(frame)
            self._out.flush()
            entry = (None, 0)
        with self._changed:
            self._entries.append(entry)
            self._changed.notify_all()

    def finish(self, error: BaseException | None = None) -> None:
        if self._out is not None:
            self._out.close()
        with self._changed:
            self._done, self._error = True, error
            self._changed.notify_all()

    def pages(self) -> Iterator[list[dict]]:
        source = None
        try:
            while True:
                with self._changed:
                    while not self._entries and not self._done:
                        self._changed.wait()
                    if not self._entries:
                        if self._error is not None:
                            raise self._error
                        return
                    page, held = self._entries.popleft()
                if page is None:
                    source = source or open(self.path, "rb")  # noqa: SIM115 (closed below)
                    size = int.from_bytes(source.read(8), "little")
                    page = pickle.loads(source.read(size))  # noqa: S301 (our own file, written above)
                self._budget.give(held)
                yield page
        finally:
            if source is not None:
                source.close()
            with self._changed:  # pages not taken give their memory back
                self._budget.give(sum(held for _, held in self._entries))
                self._entries.clear()


class Reading:
    """One stream read ahead: its client, its window and its spool."""

    def __init__(self, spec: StreamSpec, window: Window, client: ApiClient, spool: Spool) -> None:
        self.spec, self.window, self.client, self.spool = spec, window, client, spool
        self.progress: Progress | None = None  # the claiming step's progress, once it runs

    def report(self, stream: str, stats: RequestStats) -> None:
        if self.progress is not None:
            self.progress(stream, stats)

    def run(self) -> None:
        try:
            for page in self.client.read(self.spec.name, self.window):
                self.spool.put(page)
        except BaseException as exc:  # noqa: BLE001 - raised again by the stream's own step
            self.spool.finish(exc)
        else:
            self.spool.finish()


# records all spools of a run hold in memory (a few hundred MB at most); beyond, pages wait on disk
MEMORY_RECORDS = 200_000


class RunReads:
    """The streams one run reads ahead, by table; claimed one by one by their steps."""

    def __init__(self, memory_records: int = MEMORY_RECORDS) -> None:
        self.directory = tempfile.mkdtemp(prefix="engagement-read-ahead-")
        self.readings: dict[str, Reading] = {}
        self.budget = Budget(memory_records)
        atexit.register(shutil.rmtree, self.directory, True)

    def start(self, plan: list[tuple[StreamSpec, Window, Callable[[Progress], ApiClient]]]) -> None:
        for spec, window, build in plan:
            holder: dict[str, Reading] = {}
            try:
                client = build(lambda stream, stats, holder=holder: holder["reading"].report(stream, stats))
            except Exception:  # noqa: BLE001 - its own step builds it again and fails with the reason
                continue
            spool = Spool(os.path.join(self.directory, f"{spec.source}__{spec.name}.pages"), self.budget)
            reading = holder["reading"] = Reading(spec, window, client, spool)
            self.readings[spec.table] = reading
            threading.Thread(target=reading.run, name=f"read-ahead-{spec.table}", daemon=True).start()

    def claim(self, spec: StreamSpec, window: Window, progress: Progress) -> Reading | None:
        reading = self.readings.pop(spec.table, None)
        if reading is None:
            return None
        if reading.window != window:  # not what this step reads: let it read its own
            _discard(reading)
            return None
        reading.progress = progress
        return reading


def _discard(reading: Reading) -> None:
    def drain() -> None:
        try:
            for _ in reading.spool.pages():
                pass
        except BaseException:  # noqa: BLE001 - nobody wants this stream's error
            pass
        if os.path.exists(reading.spool.path):
            os.unlink(reading.spool.path)
    threading.Thread(target=drain, daemon=True).start()


class Spooled:
    """A spool's pages, once; `local`: another thread already fetches them (the loader needs no helper
    thread of its own to overlap the API's answer time)."""

    local = True

    def __init__(self, spool: Spool) -> None:
        self._spool = spool

    def __iter__(self) -> Iterator[list[dict]]:
        try:
            yield from self._spool.pages()
        finally:
            if os.path.exists(self._spool.path):
                os.unlink(self._spool.path)


class ReadAhead:
    """The client that read a stream ahead: `read` gives its spooled pages, everything else is the client's."""

    def __init__(self, reading: Reading) -> None:
        self._reading = reading

    def read(self, stream: str, window: Window) -> Spooled:
        if stream != self._reading.spec.name or window != self._reading.window:
            raise ValueError(f"{self._reading.spec.table} was read ahead for {self._reading.window}, not {window}")
        return Spooled(self._reading.spool)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reading.client, name)


_runs: dict[str, RunReads] = {}
_runs_lock = threading.Lock()


def client_for(run_id: str, spec: StreamSpec, window: Window, progress: Progress,
               build: Callable[[StreamSpec, Progress], ApiClient],
               plan: Callable[[], list[tuple[StreamSpec, Window]]]) -> ApiClient | ReadAhead:
    """The client a step reads `spec` with: the one that read it ahead if the run did, else a new one.

    The run's first call starts reading every stream `plan()` lists (the run's others, with their windows)."""
    with _runs_lock:
        run = _runs.get(run_id)
        if run is None:
            run = _runs[run_id] = RunReads()
            others = [(s, w) for s, w in _safe(plan) if s.table != spec.table]
            run.start([(s, w, lambda report, s=s: build(s, report)) for s, w in others])
        reading = run.claim(spec, window, progress)
        if not run.readings:
            _runs.pop(run_id, None)
    return build(spec, progress) if reading is None else ReadAhead(reading)


def run_streams(context: Any, streams: list[StreamSpec]) -> list[StreamSpec]:
    """The streams among `streams` whose assets this run materialises (the job's assets, and only the
    steps it executes when it re-executes some)."""
    import dagster as dg

    keys = set(context.job_def.asset_layer.executable_asset_keys)
    steps = context.run.step_keys_to_execute
    chosen = []
    for spec in streams:
        key = dg.AssetKey([f"raw_{spec.source}", spec.name])
        if key in keys and (steps is None or "__".join(key.path) in steps):
            chosen.append(spec)
    return chosen


def _safe(plan: Callable[[], list[Any]]) -> list[Any]:
    """The run's other streams; none when they cannot be listed (each step then reads its own)."""
    try:
        return plan()
    except Exception:  # noqa: BLE001 - reading ahead is an optimisation, never a new way to fail
        return []
