"""Shared HTTP policy for every connector: one session factory, one error type, one retry rule.

Retries of 429/5xx and of connection/read failures are urllib3's `Retry` on a requests
`HTTPAdapter`. Failures urllib3 cannot see (a body cut off mid-transfer, a JSON document that
does not parse, an API's throttle signalled inside a 4xx body) get the same backoff from
`ApiClient.request`. Each API's own rate-limit dialect lives in its client module. Reading fields
out of records is `connectors.records`; walking pages is `connectors.pages`.

What an API documents one account may do (simultaneous requests, calls per window) is declared on
its client (`CONCURRENCY`, `RATES`) and kept by a `Gate` shared by every client of that account in
the process: several streams of one source read at once and together still never exceed it. Within
that, each client reads up to `WORKERS` pages or items at a time.
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from connectors.columnar import decode
from connectors.errors import ApiError, ConfigError, ConnectorError, RateLimitTooLong, SchemaError  # noqa: F401 (re-exported)
from connectors.pages import PageJob, pages_on_threads
from connectors.records import ReadTracking

USER_AGENT = "engagement-pipeline/0.1 (+https://github.com/engagement-pipeline)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
DEFAULT_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds


@dataclass
class RetryPolicy:
    total: int = 5
    backoff_factor: float = 0.5
    backoff_max: float = 30.0
    max_wait: float = 900.0  # longest Retry-After / reset we will sleep; longer fails the run
    jitter: float = 0.25


class ApiRetry(Retry):
    """urllib3 Retry that treats an unparseable Retry-After as absent and refuses long waits."""

    def parse_retry_after(self, retry_after: str) -> float:
        try:
            seconds = super().parse_retry_after(retry_after)
        except Exception:  # urllib3 raises InvalidHeader on "soon": fall back to backoff
            return 0.0
        return seconds

    def sleep_for_retry(self, response) -> bool:
        retry_after = self.get_retry_after(response)
        if retry_after and retry_after > self.retry_after_max:
            raise RateLimitTooLong(retry_after)
        if retry_after:
            time.sleep(retry_after)
            return True
        return False

    def get_retry_after(self, response) -> float | None:
        value = response.headers.get("Retry-After")
        if value is None:
            return None
        # parse_retry_after caps at retry_after_max; read the raw figure to detect long waits
        if re.match(r"^\s*[0-9]+\s*$", value):
            return float(int(value))
        return self.parse_retry_after(value)


def make_session(
    retry_class: type[ApiRetry] = ApiRetry,
    policy: RetryPolicy | None = None,
    pool_maxsize: int = 10,
) -> requests.Session:
    policy = policy or RetryPolicy()
    retry = retry_class(
        total=policy.total,
        connect=policy.total,
        read=policy.total,
        status=policy.total,
        other=0,
        redirect=0,
        allowed_methods=frozenset({"GET", "POST"}),  # GA4 runReport and HubSpot search are read-only POSTs
        status_forcelist=RETRY_STATUSES,
        backoff_factor=policy.backoff_factor,
        backoff_max=policy.backoff_max,
        backoff_jitter=policy.jitter,
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
        retry_after_max=int(policy.max_wait),
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry, pool_connections=pool_maxsize, pool_maxsize=pool_maxsize)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    session.trust_env = False  # a stray proxy variable must not reroute credentials
    return session


def validate_base_url(url: str | None, variable: str, default: str | None = None) -> str:
    """Accept https anywhere and plain http only for loopback hosts (the sandbox)."""
    url = (url or default or "").strip()
    if not url:
        raise ConfigError(f"{variable} is empty: set it to the API's base URL")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"{variable} must be an https:// URL (got scheme '{parts.scheme}')")
    if parts.username or parts.password:
        raise ConfigError(f"{variable} must not embed credentials in the URL")
    if not parts.hostname:
        raise ConfigError(f"{variable} has no host")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(f"{variable} uses plain http for a non-loopback host: use https")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_SECRET_QUERY = re.compile(r"(?i)(access_token|token|key|apikey|api_key|password|secret)=([^&\s'\"]+)")


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _SECRET_QUERY.sub(r"\1=***", text)


@dataclass(frozen=True)
class RateLimit:
    """At most `calls` requests in any `seconds` (rolling), counting the endpoints named (all when empty)."""

    calls: int
    seconds: float
    endpoints: frozenset[str] = frozenset()

    def counts(self, endpoint: str) -> bool:
        return not self.endpoints or endpoint in self.endpoints


class Gate:
    """One API account's documented limits, kept for every client of it in this process: at most
    `concurrent` requests in progress, and each rate's calls per rolling window. A call waits for a
    free slot, then for room in every rate that counts it; a slot is held until the answer is read."""

    # the server counts a call when it arrives, a little after we do (more on a loaded machine): a window
    # 5% and 150 ms longer than the API's keeps our count of any of its windows within the limit
    MARGIN, JITTER = 0.05, 0.15

    def __init__(self, concurrent: int | None, rates: tuple[RateLimit, ...] = ()) -> None:
        self.concurrent = concurrent
        self.rates = rates
        self._slots = threading.BoundedSemaphore(concurrent) if concurrent else None
        self._sent: dict[RateLimit, deque[float]] = {rate: deque() for rate in rates}
        self._lock = threading.Lock()

    @contextmanager
    def slot(self, endpoint: str) -> Iterator[float]:
        """Hold a slot for one request; yields the seconds spent waiting for it."""
        began = time.monotonic()
        if self._slots is not None:
            self._slots.acquire()
        try:
            self._pace(endpoint)
            yield time.monotonic() - began
        finally:
            if self._slots is not None:
                self._slots.release()

    def _pace(self, endpoint: str) -> None:
        rates = [rate for rate in self.rates if rate.counts(endpoint)]
        while rates:
            with self._lock:
                now = time.monotonic()
                wait = 0.0
                for rate in rates:
                    window = self._sent[rate]
                    span = rate.seconds * (1 + self.MARGIN) + self.JITTER
                    while window and window[0] <= now - span:
                        window.popleft()
                    if len(window) >= rate.calls:
                        wait = max(wait, window[0] + span - now)
                if wait <= 0:
                    for rate in rates:
                        self._sent[rate].append(now)
                    return
            time.sleep(wait)


_gates: dict[tuple[str, str], Gate] = {}
_gates_lock = threading.Lock()


def gate(source: str, account: str, concurrent: int | None, rates: tuple[RateLimit, ...]) -> Gate:
    """The process-wide gate of one account of one API (made on first use)."""
    key = (source, account)
    with _gates_lock:
        found = _gates.get(key)
        if found is None or found.concurrent != concurrent or found.rates != rates:
            found = _gates[key] = Gate(concurrent, rates)
        return found


@dataclass
class RequestStats:
    requests: int = 0
    retries: int = 0
    pages: int = 0
    records: int = 0
    waited_seconds: float = 0.0  # the client's own throttle and backoff sleeps (urllib3's Retry-After sleeps are in retries)

    def as_dict(self) -> dict[str, float]:
        return {"requests": self.requests, "retries": self.retries, "pages": self.pages, "records": self.records,
                "waited_seconds": self.waited_seconds}


@dataclass
class ApiClient:
    """Common request loop; subclasses set `source`, auth and their error dialect."""

    base_url: str
    session: requests.Session | None = None
    timeout: tuple[float, float] = DEFAULT_TIMEOUT
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    on_progress: Callable[[str, RequestStats], None] | None = None
    stats: RequestStats = field(default_factory=RequestStats)
    workers: int = 0  # pages or items read at a time; 0: the class's WORKERS (never above max_concurrency)
    columnar_pages: bool = True  # big streams' pages decoded into Arrow columns (connectors/columnar.py); False: dicts

    source: ClassVar[str] = "api"
    retry_class: ClassVar[type[ApiRetry]] = ApiRetry
    # what the API documents one account may do: simultaneous requests (None: it documents no such
    # limit) and calls per window; kept across every client of the account (see Gate)
    CONCURRENCY: ClassVar[int | None] = None
    RATES: ClassVar[tuple[RateLimit, ...]] = ()
    # pages or items one client reads at a time; for an API documenting no concurrency, also the cap
    # on simultaneous requests of the account (a courtesy the API does not ask for)
    WORKERS: ClassVar[int] = 8

    def __post_init__(self) -> None:
        self._local = threading.local()  # last_headers: each thread's own latest answer
        self._stats_lock = threading.Lock()
        self.workers = max(1, min(int(self.workers or self.WORKERS), self.max_concurrency))
        if self.session is None:
            self.session = make_session(self.retry_class, self.policy, pool_maxsize=max(10, self.max_concurrency))
        self._sleep = time.sleep
        self.last_headers = {}
        self._watched: tuple[str, ReadTracking] | None = None
        self._ignored: dict[str, set[str]] = {}
        self._gate = gate(self.source, self.account(), self.max_concurrency, self.RATES)

    @property
    def max_concurrency(self) -> int:
        """Simultaneous requests this account may have in progress: the documented limit, else our own cap."""
        return self.CONCURRENCY or self.WORKERS

    def account(self) -> str:
        """What the API's limits are per (base URL and credentials): clients of one account share a gate."""
        digest = hashlib.sha256("\x1f".join(self.secrets()).encode()).hexdigest()[:16]
        return f"{self.base_url} {digest}"

    @property
    def last_headers(self) -> Mapping[str, str]:
        """Headers of the latest answer this thread received (pages may be read on helper threads)."""
        return getattr(self._local, "headers", {})

    @last_headers.setter
    def last_headers(self, headers: Mapping[str, str]) -> None:
        self._local.headers = headers

    def count(self, **increments: float) -> None:
        """Add to stats (several threads may read pages of one client)."""
        with self._stats_lock:
            for name, value in increments.items():
                setattr(self.stats, name, getattr(self.stats, name) + value)

    # --- hooks for each API's dialect -------------------------------------------------
    def secrets(self) -> tuple[str, ...]:
        return ()

    def auth_headers(self) -> dict[str, str]:
        return {}

    def error_message(self, body: Any, response: requests.Response) -> str:
        """The API's own message from its error body."""
        if isinstance(body, dict):
            for key in ("detail", "message", "title", "error"):
                value = body.get(key)
                if isinstance(value, str) and value:
                    return value
                if isinstance(value, dict) and isinstance(value.get("message"), str):
                    return value["message"]
        return response.reason or "error"

    # run_facts keys whose presence means the figures read are estimates or incomplete (a sampled or
    # truncated report): the wiring gives every stream of such a source a warn-severity check on them
    UNTRUSTED_FACTS: tuple[str, ...] = ()

    def run_facts(self, stream: str) -> dict[str, Any]:
        """What the API said about the last read of `stream` beyond its records (a report's thresholding,
        partial errors, a skipped stream): shown with the load, never silently trusted."""
        return {}

    def throttle_wait(self, response: requests.Response, body: Any) -> float | None:
        """Seconds to wait when an answer urllib3 cannot recognise is a throttle, else None."""
        return None

    # --- the loop --------------------------------------------------------------------
    def request(
        self,
        method: str,
        url: str,
        *,
        endpoint: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        columnar: pa.Schema | None = None,
    ) -> Any:
        """One logical request; returns parsed JSON or raises ApiError. With a `columnar` layout (and
        `self.columnar_pages`), a 2xx answer that fits it comes back as an ArrowBody instead."""
        attempt = 0
        while True:
            attempt += 1
            self.count(requests=1)
            try:
                with self._gate.slot(endpoint):
                    response = self.session.request(
                        method,
                        url,
                        params=params,
                        json=json,
                        headers={**self.auth_headers(), **(headers or {})},
                        timeout=self.timeout,
                        allow_redirects=False,
                    )
                    content = response.content  # read inside the slot: the request lasts until its answer is in
                history = getattr(getattr(response.raw, "retries", None), "history", ()) or ()
                self.count(retries=len(history), requests=len(history))
                body = self._parse(response, content, columnar if self.columnar_pages else None)
            except RateLimitTooLong as exc:
                raise ApiError(
                    self.source, endpoint, 429,
                    f"rate limited: the API asks to wait {exc.seconds:.0f} s, longer than the "
                    f"{self.policy.max_wait:.0f} s ceiling; retry after that",
                ) from None
            except (requests.exceptions.ChunkedEncodingError, _BodyNotJson) as exc:
                if attempt > self.policy.total:
                    raise ApiError(self.source, endpoint, None, f"incomplete or malformed answer: {type(exc).__name__}") from None
                self._backoff(attempt)
                continue
            except requests.exceptions.RequestException as exc:
                raise ApiError(self.source, endpoint, None, redact(_describe(exc, self.timeout[1]), self.secrets())) from None

            if 300 <= response.status_code < 400:
                target = redact(response.headers.get("Location", "?"), self.secrets())
                raise ApiError(self.source, endpoint, response.status_code, f"refusing redirect to {target}")
            if response.status_code >= 400:
                wait = self.throttle_wait(response, body)
                if wait is not None and attempt <= self.policy.total:
                    if wait > self.policy.max_wait:
                        raise ApiError(self.source, endpoint, response.status_code,
                                       f"throttled for {wait:.0f} s, longer than the {self.policy.max_wait:.0f} s ceiling")
                    self.count(retries=1)
                    self.wait(wait if wait > 0 else self._backoff_seconds(attempt))
                    continue
                message = redact(self.error_message(body, response), self.secrets())
                raise ApiError(self.source, endpoint, response.status_code, message)
            self.last_headers = response.headers
            return body

    def _parse(self, response: requests.Response, content: bytes, columnar: pa.Schema | None = None) -> Any:
        if not content:
            return None
        if columnar is not None and response.status_code < 300:
            try:
                return decode(content, columnar)
            except pa.ArrowException:
                pass  # malformed, or not of the layout: json decides which, and the record builders read it
        try:
            return response.json()
        except ValueError:
            if response.status_code >= 400:
                return {"message": content[:200].decode("utf-8", "replace")}
            raise _BodyNotJson() from None

    def _backoff_seconds(self, attempt: int) -> float:
        base = min(self.policy.backoff_max, self.policy.backoff_factor * (2 ** (attempt - 1)))
        return base + random.uniform(0, self.policy.jitter)

    def _backoff(self, attempt: int) -> None:
        self.count(retries=1)
        self.wait(self._backoff_seconds(attempt))

    def wait(self, seconds: float) -> None:
        """Sleep for a throttle or a backoff, counted in stats.waited_seconds."""
        self.count(waited_seconds=seconds)
        self._sleep(seconds)

    def watch_fields(self, stream: str, records: list) -> list:
        """The page, its first record wrapped so that the fields no record builder reads are recorded
        (an API's new fields are ignored, and `ignored_fields()` says which they were)."""
        with self._stats_lock:
            self._audit()
            if records and type(records[0]) is dict:
                records = [ReadTracking(records[0]), *records[1:]]
                self._watched = (stream, records[0])
        return records

    def watch_columns(self, stream: str, fields: set[str], read: set[str]) -> None:
        """`watch_fields` for a columnar page: its records' `fields`, of which the builders read `read`."""
        with self._stats_lock:
            self._ignored.setdefault(stream, set()).update(fields - read)

    def ignored_fields(self) -> dict[str, list[str]]:
        """stream -> top-level record fields the API sent and the pipeline did not read."""
        with self._stats_lock:
            self._audit()
            return {stream: sorted(keys) for stream, keys in self._ignored.items() if keys}

    def _audit(self) -> None:
        if self._watched is not None:
            stream, record = self._watched
            self._ignored.setdefault(stream, set()).update(record.unread())
            self._watched = None

    def fan_out(self, jobs: list[PageJob], ordered: bool = True) -> Iterator[list]:
        """Run per-item page generators on up to `workers` threads, yielding their pages in the jobs'
        order (as a loop over them would), or as they arrive when not `ordered`. Each job's generator
        runs on one thread, so the `last_headers` it reads are its own answers'."""
        if self.workers <= 1 or len(jobs) <= 1:
            for pages in jobs:
                yield from pages()
            return
        yield from pages_on_threads(jobs, self.workers, depth=2 if ordered else 2 * self.workers,
                                    name=f"{self.source}-items", ordered=ordered)

    def page_done(self, stream: str, records: int) -> None:
        self.count(pages=1, records=records)
        if self.on_progress:
            self.on_progress(stream, self.stats)


class _BodyNotJson(Exception):
    pass


def _describe(exc: Exception, read_timeout: float) -> str:
    kind = type(exc).__name__
    reason = str(exc)
    if "Read timed out" in reason:
        # a retry may also meet the API's concurrency limit while it still works on the abandoned request
        return (f"{kind}: read timed out after retries (each waited {read_timeout:g} s for an answer; if the API is slow "
                f"to answer big requests, raise ENGAGEMENT_HTTP_READ_TIMEOUT_SECONDS)")
    if "Max retries exceeded" in reason:
        inner = re.search(r"\(Caused by (\w+)", reason)
        return f"{kind}: gave up after retries ({inner.group(1) if inner else 'connection failed'})"
    return f"{kind}: {reason}"
