"""A run's fetches and raw loads in a child process that exits before dbt starts.

A process keeps most of the native memory it ever used: the first fetch and load leave the
refresh's process ~300 MiB larger (DuckDB's and Arrow's pools, the HTTP clients), and neither
`gc`, `malloc_trim` nor DuckDB's allocator flush gives it back. dbt's build runs beside that
process, so the run's peak was both together. Here the run's first ingestion step starts one child
(`python -m dagster_project.lib.ingest_process`) that reads every stream of the run at once and
loads them one after another, exactly as the steps did in-process (lib/read_ahead.py); each step
waits for its stream's outcome and reports it. The child exits after its last load, and the step
that takes the last outcome waits for that, so the warehouse is free before dbt opens it. The steps
find the child in this module's registry, so they must share one process: the jobs' in-process executor.

Nothing is lost when the child dies: each load is one transaction. The step waiting on a stream
the child never loaded fails and names the exit code. The child also exits when the run's process
goes away (its stdin closes). ENGAGEMENT_INGEST_PROCESS=same keeps everything in the run's process.

Wire: the parent writes one pickle (settings, [(table, window or None: the source is disabled)])
to the child's stdin and keeps stdin open; the child writes pickled messages to its stdout:
("progress", table, stats), ("loaded", table, Outcome), ("failed", table, exception).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from connectors.http import RequestStats
from connectors.streams import StreamSpec, Window
from dagster_project.lib.settings import Settings
from dagster_project.lib.warehouse import LoadResult

PROJECT_ROOT = Path(__file__).resolve().parents[2]
Progress = Callable[[str, RequestStats], None]


@dataclass(frozen=True)
class Outcome:
    """What a step reports of its stream: the load, the requests, and what the API said beyond its records."""

    window: Window | None  # None: the source is disabled, its table only made to exist
    result: LoadResult | None = None
    stats: RequestStats | None = None
    ignored_fields: tuple[str, ...] = ()
    facts: dict[str, Any] | None = None


class IngestProcessDied(RuntimeError):
    pass


def fetch_and_load(run_key: str, settings: Settings, spec: StreamSpec, window: Window, progress: Progress,
                   others: Callable[[], list[tuple[StreamSpec, Window]]]) -> Outcome:
    """One stream read (the run's first read starts every stream `others` lists: read_ahead.py) and loaded."""
    from dagster_project.lib import read_ahead
    from dagster_project.lib.clients import build_client
    from dagster_project.lib.engine import load_stream

    client = read_ahead.client_for(run_key, spec, window, progress,
                                   lambda s, report: build_client(s.source, settings, on_progress=report), others)
    result = load_stream(settings, spec, client.read(spec.name, window), window)
    return Outcome(window, result, client.stats, tuple(client.ignored_fields().get(spec.name, [])), client.run_facts(spec.name))


class ChildRun:
    """The parent's side of one run's child: which streams it owns and what came back."""

    def __init__(self, run_id: str, settings: Settings, plan: list[tuple[StreamSpec, Window | None]]) -> None:
        self.run_id = run_id
        self.tables = {spec.table for spec, _window in plan}
        self._outcomes: dict[str, Outcome | BaseException] = {}
        self._progress: dict[str, Progress] = {}
        self._unclaimed = set(self.tables)
        self._changed = threading.Condition()
        self._exit_code: int | None = None
        self._broken: Exception | None = None
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
        # the child's reading threads decode pages with the C allocator (warehouse.py): glibc's default of
        # 8 arenas per core keeps what each thread freed; 2 arenas return it to the loads
        env.setdefault("MALLOC_ARENA_MAX", "2")
        self.process = subprocess.Popen(  # noqa: S603 - our own module, with this interpreter
            [sys.executable, "-m", "dagster_project.lib.ingest_process"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=PROJECT_ROOT,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(pickle.dumps((settings, [(spec.table, window) for spec, window in plan])))
        self.process.stdin.flush()  # stdin stays open: its end tells the child the run's process is gone
        threading.Thread(target=self._receive, args=(self.process.stdout,), name="ingest-process-reader", daemon=True).start()

    def owns(self, table: str) -> bool:
        return table in self.tables

    def _receive(self, stdout: BinaryIO) -> None:
        try:
            while True:
                kind, table, body = pickle.load(stdout)  # noqa: S301 - our own child's messages
                if kind == "progress":
                    report = self._progress.get(table)
                    if report is not None:
                        report(table.split(".", 1)[1], RequestStats(**body))
                    continue
                with self._changed:
                    self._outcomes[table] = body
                    self._changed.notify_all()
        except EOFError:  # the child closed its end: it has finished or died
            pass
        except Exception as exc:  # noqa: BLE001 - a message we cannot read: stop the child rather than wait on it forever
            self._broken = exc
            self.process.kill()
        code = self.process.wait()
        with self._changed:
            self._exit_code = code
            self._changed.notify_all()

    def outcome(self, table: str, progress: Progress) -> Outcome:
        """Waits for the child's outcome for `table` (raising the stream's own error); the last one
        taken also waits for the child to exit."""
        self._progress[table] = progress
        with self._changed:
            while table not in self._outcomes and self._exit_code is None:
                self._changed.wait(1.0)
            found = self._outcomes.pop(table, None)
            self._unclaimed.discard(table)
            last = not self._unclaimed
        self._progress.pop(table, None)
        if last:
            self.join()
            with _runs_lock:
                _runs.pop(self.run_id, None)
        if found is None:
            raise IngestProcessDied(f"the ingestion process (pid {self.process.pid}) {_ended(self._exit_code)} before it "
                                    f"loaded {table}; what it loaded before is stored, and a rerun reads the rest") from self._broken
        if isinstance(found, BaseException):
            raise found
        return found

    def join(self) -> None:
        """Waits until the child has exited (it holds the warehouse while it lives)."""
        with self._changed:
            while self._exit_code is None:
                self._changed.wait(1.0)
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()


def _ended(code: int | None) -> str:
    if code is not None and code < 0:
        return f"was killed by signal {-code}"
    return f"exited with code {code}"


_runs: dict[str, ChildRun] = {}
_runs_lock = threading.Lock()


def child_for(run_id: str, settings: Settings, plan: Callable[[], list[tuple[StreamSpec, Window | None]]]) -> ChildRun | None:
    """The run's child, started by the run's first ingestion step; None when the run's streams cannot
    be listed (each step then reads and loads its own, as in the run's process)."""
    with _runs_lock:
        run = _runs.get(run_id)
        if run is None:
            try:
                streams = plan()
            except Exception:  # noqa: BLE001 - the child is an optimisation, never a new way to fail
                return None
            run = _runs[run_id] = ChildRun(run_id, settings, streams)
        return run


# --- the child -------------------------------------------------------------------------------------


def _portable(exc: BaseException) -> BaseException:
    """The stream's error as the parent will raise it: the same type and message when it pickles,
    with the child's traceback as a note."""
    exc.add_note("".join(traceback.format_exception(exc)).rstrip())
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 - checking our own object round-trips
        return exc
    except Exception:  # noqa: BLE001 - an error class whose constructor pickle cannot call
        copy = RuntimeError(f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}")
        copy.__notes__ = list(getattr(exc, "__notes__", []))
        return copy


def run_plan(settings: Settings, plan: list[tuple[str, Window | None]], send: Callable[[tuple], None]) -> None:
    """Reads every enabled stream of `plan` at once and loads them one after another, sending each outcome."""
    from dagster_project.lib.clients import all_streams
    from dagster_project.lib.engine import ensure_raw_table

    specs = {spec.table: spec for spec in all_streams()}
    enabled = [(specs[table], window) for table, window in plan if window is not None]
    for table, window in plan:
        spec = specs[table]
        try:
            if window is None:
                ensure_raw_table(settings, spec)  # an empty table keeps every downstream model valid
                send(("loaded", table, Outcome(None)))
                continue
            outcome = fetch_and_load("child", settings, spec, window,
                                     lambda stream, stats, table=table: send(("progress", table, stats.as_dict())), lambda: enabled)
        except Exception as exc:  # noqa: BLE001 - raised by the stream's own step
            send(("failed", table, _portable(exc)))
        else:
            send(("loaded", table, outcome))


def main() -> None:
    settings, plan = pickle.load(sys.stdin.buffer)  # noqa: S301 - from the run's process that started us
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever a library prints goes to stderr, not into the messages
    lock = threading.Lock()

    def send(message: tuple) -> None:
        frame = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        with lock:
            channel.write(frame)
            channel.flush()

    def lifeline() -> None:  # the run's process is gone: stop, whatever is in progress (each load is one transaction)
        while os.read(0, 4096):  # the raw descriptor: a thread blocked in sys.stdin's buffer aborts the interpreter's exit
            pass
        os._exit(3)

    threading.Thread(target=lifeline, name="lifeline", daemon=True).start()
    try:
        run_plan(settings, plan, send)
    except BrokenPipeError:
        os._exit(3)
    channel.close()


if __name__ == "__main__":
    # through the module's own name, so what the child pickles (Outcome) names a class the run's process can import
    from dagster_project.lib.ingest_process import main as child_main

    child_main()
