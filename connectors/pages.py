"""Page iterators run on helper threads: one place for the hand-off, error and early-stop rules."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

PageJob = Callable[[], Iterable[list[dict]]]


def pages_on_threads(jobs: Sequence[PageJob], workers: int, depth: int, name: str = "pages") -> Iterator[list[dict]]:
    """Run each job's pages on up to `workers` threads, yielding every page as it arrives.

    At most `depth` pages wait in the hand-off, so a slow consumer holds the producers back. A
    producer's error is raised here unchanged and stops the others; so does closing this generator
    early. Each job's iterator is closed on the thread that ran it (its HTTP session goes with it).
    """
    if not jobs:
        return
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run(job: PageJob) -> None:
        source = iter(job())
        try:
            for page in source:
                if not put(("page", page)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            put(("error", exc))
            return
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
        put(("done", None))

    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs))), thread_name_prefix=name)
    try:
        for job in jobs:
            pool.submit(run, job)
        remaining = len(jobs)
        while remaining:
            kind, value = handoff.get()
            if kind == "page":
                yield value
            elif kind == "done":
                remaining -= 1
            else:
                raise value
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
