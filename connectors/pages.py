"""Paging, written once: the four ways our APIs page, and page iterators run on helper threads.

Each strategy is a generator of response bodies. It knows only how to ask for the next page and
when to stop; what a page holds (records, errors) stays with the API's client. Every strategy
refuses to loop: a token, URL or offset that repeats one already followed raises ApiError.

| strategy          | used by                       | next page                  | end                                   |
|-------------------|-------------------------------|----------------------------|---------------------------------------|
| offset_pages      | Mailchimp                     | offset += new records      | offset >= total, or an empty page      |
| token_pages       | X, HubSpot                    | the answer's token         | no token                               |
| next_url_pages    | Meta Graph                    | a full URL (same origin)   | no next URL (an empty page is not end) |
| restli_pages      | LinkedIn                      | start += count             | empty elements, no next link, or total |

Where the first page tells how many there are (a total), the others' offsets are known in advance:
with `workers` > 1, `offset_pages` and `restli_pages` fetch the predicted pages ahead on helper
threads (`Prefetch`), and still walk them in order with the same rules, so the result is the
sequential one: a page whose offset the rules do not arrive at (the answers drifted) is dropped and
the walk goes on one page at a time from where the rules say.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from connectors.errors import ApiError

PageJob = Callable[[], Iterable[list[dict]]]


def pages_on_threads(jobs: Sequence[PageJob], workers: int, depth: int, name: str = "pages",
                     ordered: bool = False) -> Iterator[list[dict]]:
    """Run each job's pages on up to `workers` threads, yielding every page as it arrives, or with
    `ordered` every page of the first job, then of the second... (the order a loop over the jobs gives).

    At most `depth` pages wait in the hand-off (per job when ordered), so a slow consumer holds the
    producers back. A producer's error is raised here unchanged and stops the others: a job not yet
    started then sends no request. Closing this generator early stops them too. Each job's iterator
    is closed on the thread that ran it (its HTTP session goes with it).
    """
    if not jobs:
        return
    # jobs start in order, so the job the ordered reader waits on is always running or done
    handoffs = [queue.Queue(maxsize=depth) for _ in jobs] if ordered else [queue.Queue(maxsize=depth)] * len(jobs)
    stop = threading.Event()
    failure: list[BaseException] = []  # the first job's error, kept before the consumer hears of it

    def put(handoff: queue.Queue, item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run(job: PageJob, handoff: queue.Queue) -> None:
        if failure:  # another job failed, so the read fails: this one sends no request
            put(handoff, ("error", failure[0]))
            return
        source = iter(job())
        try:
            for page in source:
                if failure:
                    put(handoff, ("error", failure[0]))
                    return
                if not put(handoff, ("page", page)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            failure.append(exc)
            put(handoff, ("error", exc))
            return
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
        put(handoff, ("done", None))

    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs))), thread_name_prefix=name)
    try:
        for job, handoff in zip(jobs, handoffs, strict=True):
            pool.submit(run, job, handoff)
        remaining, current = len(jobs), 0
        while remaining:
            kind, value = handoffs[current].get()
            if kind == "page":
                yield value
            elif kind == "done":
                remaining -= 1
                current += 1 if ordered else 0
            else:
                raise value
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


Fetch = Callable[[Any], Any]  # the page's request argument (offset, token, URL) -> parsed body


class Prefetch:
    """Pages asked for ahead of their turn: `predicted` request arguments (in the order they will be
    wanted) are fetched on up to `workers` threads, at most `workers` ahead of the reader. `take(arg)`
    returns the next predicted page when `arg` is the one predicted, else stops predicting and
    fetches `arg` itself. Use as a context manager: leaving it waits for the requests in progress."""

    def __init__(self, fetch: Fetch, workers: int, name: str = "prefetch") -> None:
        self.fetch = fetch
        self.workers = max(1, workers)
        self._name = name
        self._pool: ThreadPoolExecutor | None = None
        self._todo: deque[Any] = deque()
        self._ahead: deque[tuple[Any, Future]] = deque()

    def predict(self, args: Iterable[Any]) -> None:
        if self.workers > 1:
            self._todo.extend(args)
            self._fill()

    def _fill(self) -> None:
        while self._todo and len(self._ahead) < self.workers:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=self._name)
            arg = self._todo.popleft()
            self._ahead.append((arg, self._pool.submit(self.fetch, arg)))

    def take(self, arg: Any) -> Any:
        if self._ahead and self._ahead[0][0] == arg:
            _, future = self._ahead.popleft()
            self._fill()
            return future.result()
        self.cancel()  # the walk left the prediction: on from here one page at a time
        return self.fetch(arg)

    def cancel(self) -> None:
        self._todo.clear()
        for _, future in self._ahead:
            future.cancel()
        self._ahead.clear()

    def __enter__(self) -> Prefetch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=True)


def offset_pages(fetch: Fetch, *, records: Callable[[Any], Sequence], total: Callable[[Any], int],
                 keys: Callable[[Sequence], Sequence] | None = None, source: str, endpoint: str,
                 step: int = 0, workers: int = 1) -> Iterator[Any]:
    """Bodies by offset until `offset >= total` or an empty page.

    The offset advances by the records that are new: when a page starts with records the previous
    page ended with (offset drift), the next offset is corrected by that many, so nothing between
    pages is skipped; repeats are left to the loader's de-duplication on the natural key. `keys`
    gives a page's record keys in order (None where a record has none); `records` may return a
    list or an Arrow array. With `workers` > 1 and the page size `step`, the first page's total
    predicts every other offset and those pages are fetched ahead (see Prefetch)."""
    offset, previous, asked = 0, set(), set()
    with Prefetch(fetch, workers if step > 0 else 1, name=f"{source}-pages") as ahead:
        while True:
            if offset in asked:
                raise ApiError(source, endpoint, None, f"offset {offset} repeats a page already read: stopping a paging loop")
            asked.add(offset)
            body = ahead.take(offset)
            page, end = records(body), total(body)
            if not len(page):
                return
            if offset == 0:
                ahead.predict(range(step, end, step) if step > 0 else ())
            repeated = 0
            if keys is not None:
                page_keys = keys(page)
                for key in page_keys:
                    if key is not None and key in previous:
                        repeated += 1
                    else:
                        break
                previous = {key for key in page_keys if key is not None}
            yield body
            offset += len(page) - repeated if repeated < len(page) else len(page)
            if offset >= end:
                return


def _chain(fetch: Fetch, first: Any, follow: Callable[[Any], Any], *, source: str, endpoint: str, what: str,
           ahead: bool) -> Iterator[Any]:
    """Bodies of a chain where each answer names the next request (None: the end), refusing one that
    repeats. With `ahead`, the next request is sent as soon as an answer names it, while the caller
    still works on that answer: still one request at a time, but the chain waits only for answers."""
    followed: set[Any] = set()
    arg = first
    with Prefetch(fetch, 2 if ahead else 1, name=f"{source}-chain") as pre:
        while True:
            body = pre.take(arg)
            try:
                arg, problem = follow(body), None
            except Exception as exc:  # noqa: BLE001 - raised after this page, as when it was read first
                arg, problem = None, exc
            repeated = arg is not None and arg in followed
            if arg is not None and not repeated:
                followed.add(arg)
                pre.predict([arg])
            yield body
            if problem is not None:
                raise problem
            if arg is None:
                return
            if repeated:
                raise ApiError(source, endpoint, None, f"{what} repeats a page already read: stopping a paging loop")


def token_pages(fetch: Fetch, *, next_token: Callable[[Any], str | None], source: str, endpoint: str,
                what: str = "the next-page token", ahead: bool = False) -> Iterator[Any]:
    """Bodies following the answer's cursor token (X's meta.next_token, HubSpot's paging.next.after) until
    it is absent; `ahead`: see `_chain`."""
    return _chain(fetch, None, lambda body: next_token(body) or None, source=source, endpoint=endpoint, what=what,
                  ahead=ahead)


def next_url_pages(fetch: Fetch, first: str, *, next_url: Callable[[Any], str | None], source: str, endpoint: str,
                   what: str = "paging.next", ahead: bool = False) -> Iterator[Any]:
    """Bodies following a full next-page URL (Meta's paging.next) until it is absent; `next_url`
    checks the URL (same origin, no credentials) and returns the one to follow; `ahead`: see `_chain`."""
    return _chain(fetch, first, next_url, source=source, endpoint=endpoint, what=what, ahead=ahead)


def restli_pages(fetch: Fetch, *, count: int, source: str, endpoint: str, workers: int = 1) -> Iterator[Any]:
    """Rest.li 2.0 `start`/`count` paging (LinkedIn): the end is an empty `elements`, no `next` link when
    `paging.links` is given, or `start + len(elements) >= paging.total` when a total is given. A short
    page alone is not the end (LinkedIn filters pages); the next start is `start + count`. With
    `workers` > 1, a first page carrying a total predicts the other starts (see Prefetch)."""
    start = 0
    with Prefetch(fetch, workers, name=f"{source}-pages") as ahead:
        while True:
            body = ahead.take(start)
            elements = body.get("elements") if isinstance(body, Mapping) else None
            if not elements:
                return
            paging = body.get("paging") if isinstance(body.get("paging"), Mapping) else {}
            total, links = paging.get("total"), paging.get("links")
            has_total = isinstance(total, int) and not isinstance(total, bool)
            if start == 0 and has_total:
                ahead.predict(range(count, total, count))
            yield body
            if has_total and start + len(elements) >= total:
                return
            if isinstance(links, list) and links and not any(isinstance(x, Mapping) and x.get("rel") == "next" for x in links):
                return
            if not has_total and not links and len(elements) < count:
                return  # neither a total nor links: a short page is the only end signal there is
            following = start + count
            if following <= start:
                raise ApiError(source, endpoint, None, "paging.start does not advance: stopping a paging loop")
            start = following
