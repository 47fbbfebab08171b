"""Live progress of a run, for whoever listens in the same process (the CLI's display).

The assets report what they already count (pages, records, retries and waits of each stream;
dbt nodes as they finish); with no listener a report costs one empty loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Listener = Callable[[str, dict[str, Any]], None]
_listeners: list[Listener] = []


def report(event: str, **fields: Any) -> None:
    """event: stream_started, stream_progress, stream_done, stream_skipped, dbt_node_done, dbt_done, dbt_skipped, step_done."""
    for listener in list(_listeners):
        listener(event, fields)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)
