"""What the CLI shows while a run works: one line per stream and per dbt phase (rich).

On a terminal the lines update in place (rich's live progress); anywhere else (a pipe, CI, a log
file) each line is printed once, when its stream or phase ends, without colour codes.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

DBT_PHASES = {"model": "dbt models", "seed": "dbt models", "test": "dbt tests", "unit_test": "dbt unit tests"}


def stream_name(table: str) -> str:
    return table.replace("raw_", "", 1)


def stream_detail(fields: dict[str, Any]) -> str:
    text = (f"{fields.get('pages', 0):>5,} pages {fields.get('records', 0):>9,} records "
            f"{fields.get('retries', 0):>3} retries, waited {fields.get('waited_seconds', 0.0):.1f} s")
    if "written" in fields:
        text += f"; {fields['written']:,} written, {fields['stored']:,} stored"
    return text


def phase_detail(statuses: Counter) -> str:
    return ", ".join(f"{n} {status}" for status, n in sorted(statuses.items())) or "none"


class RunDisplay:
    """A progress listener (dagster_project.lib.progress) drawing on `console`."""

    def __init__(self, console: Console, phase_totals: dict[str, int]):
        self.console = console
        self.live = console.is_terminal
        self.phase_totals = phase_totals  # "dbt models" -> how many nodes the manifest holds
        self.phase_statuses: dict[str, Counter] = {phase: Counter() for phase in phase_totals}
        self.tasks: dict[str, TaskID] = {}
        self.progress = Progress(
            SpinnerColumn(finished_text="[green]✓"), TextColumn("{task.description:<34}"), BarColumn(bar_width=20),
            TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
            console=console, redirect_stdout=False, redirect_stderr=False, transient=False,
        )

    def __enter__(self) -> RunDisplay:
        if self.live:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.progress.stop()

    def __call__(self, event: str, fields: dict[str, Any]) -> None:
        if event.startswith("stream_"):
            self._stream(event, fields)
        elif event == "dbt_node_done":
            phase = DBT_PHASES.get(fields["kind"])
            if phase:
                self.phase_statuses[phase][fields["status"] or "done"] += 1
                self._update(phase, total=self.phase_totals.get(phase), advance=1,
                             detail=phase_detail(self.phase_statuses[phase]))
        elif event == "dbt_skipped":
            for phase in self.phase_statuses:
                self._finish(phase, "skipped: nothing new since the published snapshot")
        elif event == "dbt_done":
            for phase, statuses in self.phase_statuses.items():
                done = sum(statuses.values())
                self._finish(phase, f"{done}/{self.phase_totals.get(phase, done)}: {phase_detail(statuses)}",
                             total=self.phase_totals.get(phase))

    def _stream(self, event: str, fields: dict[str, Any]) -> None:
        name = stream_name(fields["stream"])
        if event == "stream_skipped":
            self._finish(name, "skipped: not in ENGAGEMENT_SOURCES")
        elif event == "stream_done":
            self._finish(name, stream_detail(fields))
        else:
            self._update(name, detail=stream_detail(fields) if event == "stream_progress" else "starting")

    def _update(self, name: str, total: int | None = None, advance: int = 0, detail: str = "") -> None:
        if not self.live:
            return
        if name not in self.tasks:
            self.tasks[name] = self.progress.add_task(name, total=total, detail="")
        self.progress.update(self.tasks[name], advance=advance, detail=detail)

    def _finish(self, name: str, detail: str, total: int | None = None) -> None:
        if not self.live:
            self.console.print(f"{name:34} {detail}", highlight=False, markup=False, soft_wrap=True)
            return
        self._update(name, total=total, detail=detail)
        task = self.progress.tasks[self.tasks[name]]
        self.progress.update(self.tasks[name], total=task.completed or 1, completed=task.completed or 1)
