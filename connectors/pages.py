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
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from connectors.errors import ApiError

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


Fetch = Callable[[Any], Any]  # the page's request argument (offset, token, URL) -> parsed body


def offset_pages(fetch: Fetch, *, records: Callable[[Any], list], total: Callable[[Any], int],
                 key: Callable[[Any], Any] | None = None, source: str, endpoint: str) -> Iterator[Any]:
    """Bodies by offset until `offset >= total` or an empty page.

    The offset advances by the records that are new: when a page starts with records the previous
    page ended with (offset drift), the next offset is corrected by that many, so nothing between
    pages is skipped; repeats are left to the loader's de-duplication on the natural key."""
    offset, previous, asked = 0, set(), set()
    while True:
        if offset in asked:
            raise ApiError(source, endpoint, None, f"offset {offset} repeats a page already read: stopping a paging loop")
        asked.add(offset)
        body = fetch(offset)
        page, end = records(body), total(body)
        if not page:
            return
        repeated = 0
        if key is not None:
            for record in page:
                if key(record) is not None and key(record) in previous:
                    repeated += 1
                else:
                    break
            previous = {key(r) for r in page if key(r) is not None}
        yield body
        offset += len(page) - repeated if repeated < len(page) else len(page)
        if offset >= end:
            return


def token_pages(fetch: Fetch, *, next_token: Callable[[Any], str | None], source: str, endpoint: str,
                what: str = "the next-page token") -> Iterator[Any]:
    """Bodies following the answer's cursor token (X's meta.next_token, HubSpot's paging.next.after) until it is absent."""
    token: str | None = None
    seen: set[str] = set()
    while True:
        body = fetch(token)
        yield body
        token = next_token(body)
        if not token:
            return
        if token in seen:
            raise ApiError(source, endpoint, None, f"{what} repeats a page already read: stopping a paging loop")
        seen.add(token)


def next_url_pages(fetch: Fetch, first: str, *, next_url: Callable[[Any], str | None], source: str, endpoint: str,
                   what: str = "paging.next") -> Iterator[Any]:
    """Bodies following a full next-page URL (Meta's paging.next) until it is absent; `next_url`
    checks the URL (same origin, no credentials) and returns the one to follow."""
    url: str | None = first
    followed: set[str] = set()
    while url is not None:
        body = fetch(url)
        yield body
        url = next_url(body)
        if url is not None:
            if url in followed:
                raise ApiError(source, endpoint, None, f"{what} repeats a page already read: stopping a paging loop")
            followed.add(url)


def restli_pages(fetch: Fetch, *, count: int, source: str, endpoint: str) -> Iterator[Any]:
    """Rest.li 2.0 `start`/`count` paging (LinkedIn): the end is an empty `elements`, no `next` link when
    `paging.links` is given, or `start + len(elements) >= paging.total` when a total is given. A short
    page alone is not the end (LinkedIn filters pages); the next start is `start + count`."""
    start = 0
    while True:
        body = fetch(start)
        elements = body.get("elements") if isinstance(body, Mapping) else None
        if not elements:
            return
        yield body
        paging = body.get("paging") if isinstance(body.get("paging"), Mapping) else {}
        total, links = paging.get("total"), paging.get("links")
        if isinstance(total, int) and not isinstance(total, bool) and start + len(elements) >= total:
            return
        if isinstance(links, list) and links and not any(isinstance(x, Mapping) and x.get("rel") == "next" for x in links):
            return
        if not isinstance(total, int) and not links and len(elements) < count:
            return  # neither a total nor links: a short page is the only end signal there is
        following = start + count
        if following <= start:
            raise ApiError(source, endpoint, None, "paging.start does not advance: stopping a paging loop")
        start = following
