"""One local HTTP server that imitates every declared source's API at its real paths.

Each API lives in its own module (`api_ga4.py`, ...), named by its source's declaration
(connectors/registry.py): its handlers labelled with `route()`, its `error_body`, the
`CREDENTIALS` it accepts and the settings it `exports`. Each server instance collects those
into its own route table.
The server adds what all of them share: a clock ("now" for the world), request counting per
endpoint, and fault injection per endpoint (see `faults.py`). Control endpoints under
`/_sandbox/` let a separate process (the CLI, a benchmark) set faults and the clock.

Real APIs answer in hundreds of milliseconds and limit what one account may do at once. `latency`
(seconds) holds every API answer until that long after the request arrived (a sleep in the handler
thread: it costs no CPU). Each API module's `limits(world)` says what the API documents: simultaneous
requests and rates per rolling window; the server counts them per API and answers a request beyond
them with the API's own throttling error (`throttled`). A request counts as in progress from its
arrival until just before its answer is written, so a client's next request, sent after it read the
answer, never overlaps it. `usage` keeps the peaks (`GET /_sandbox/limits`): tests and benchmarks
read whether a client stayed within every limit.
"""

from __future__ import annotations

import email.utils
import fnmatch
import hashlib
import importlib
import json
import threading
import time
from collections import Counter, defaultdict, deque
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from connectors.registry import SOURCES
from connectors.sandbox.faults import FaultPlan, FaultRule
from connectors.sandbox.routing import (  # noqa: F401 (route, Rate: tests' routes and limits)
    Handler,
    Limits,
    Rate,
    Request,
    Response,
    Route,
    route,
    routes_of,
)
from connectors.sandbox.world import World, WorldConfig


def api_modules() -> dict[str, Any]:
    """source name -> the sandbox module that imitates its API, as the declarations name them."""
    return {source.name: importlib.import_module(source.sandbox_module) for source in SOURCES}


class Credentials:
    """The credentials the sandbox accepts: each API module's CREDENTIALS, any of them overridden by keyword."""

    def __init__(self, **overrides: str) -> None:
        accepted = {name: value for module in api_modules().values() for name, value in module.CREDENTIALS.items()}
        unknown = set(overrides) - set(accepted)
        if unknown:
            raise TypeError(f"unknown sandbox credential(s): {', '.join(sorted(unknown))}")
        self.__dict__.update({**accepted, **overrides})

    def __repr__(self) -> str:
        return f"Credentials({', '.join(sorted(self.__dict__))})"


# query parameters that only page through a resource: what is left names the resource (see Usage.resources)
PAGING_PARAMS = frozenset({"offset", "count", "start", "after", "pagination_token", "next_token", "limit", "max_results",
                           "access_token"})


class Usage:
    """What clients did against each API's documented limits: requests in progress and their peak,
    calls within each rate's rolling window and their peak, and the throttling errors answered.
    `resources` keeps, per resource (the path and its non-paging parameters), the distinct pages asked
    for (its paging parameters) and the requests: a benchmark works out from them the longest chain of
    requests that must follow one another."""

    def __init__(self) -> None:
        self.in_flight: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self.windows: dict[tuple[str, Rate], deque[float]] = {}
        self.rate_peak: dict[tuple[str, Rate], int] = {}
        self.resources: dict[tuple[str, str], tuple[set[str], list[int]]] = {}


class SandboxServer:
    def __init__(
        self,
        world: World | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: Credentials | None = None,
        extra_routes: tuple[Handler, ...] = (),
        latency: float = 0.0,
    ):
        self.world = world or World(WorldConfig())
        modules = api_modules()
        self.routes: list[Route] = routes_of(*modules.values(), *extra_routes)
        self.error_bodies = {name: module.error_body for name, module in modules.items()}
        # api -> what it documents one account may do, and its answer beyond that; a test may replace either
        self.limits: dict[str, Limits] = {name: module.limits(self.world) for name, module in modules.items()}
        self.throttled = {name: module.throttled for name, module in modules.items()}
        self.latency = latency  # seconds from a request's arrival to its answer
        self.credentials = credentials or Credentials()
        self.faults = FaultPlan()
        self.requests: Counter[str] = Counter()
        # api -> query parameter names received: tests prove no credential travelled in a URL
        self.query_params: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.usage = Usage()
        self.rate_windows: Any = None  # X's per-endpoint rate-limit windows, made on first use (api_x.RateWindows)
        self._lock = threading.Lock()
        self._now: datetime | None = None
        self._httpd = _Listener((host, port), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def now(self) -> datetime:
        return self._now or self.world.default_now

    @now.setter
    def now(self, value: datetime | None) -> None:
        if self.rate_windows is not None and value != self._now:
            self.rate_windows.expire()  # the clock moved (a day, in a simulated schedule): windows have reset
        self._now = value

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def add_routes(self, *handlers: Handler) -> None:
        """Serve more handlers (labelled with `route`) on this server only."""
        self.routes += routes_of(*handlers)

    def env(self) -> dict[str, str]:
        """Environment variables that point every connector at this sandbox."""
        return sandbox_env(self.url, self.credentials)

    @property
    def in_flight(self) -> Counter[str]:
        return self.usage.in_flight

    # --- limits -----------------------------------------------------------------------
    def api_of(self, method: str, raw_path: str) -> tuple[str, str]:
        """(api, endpoint) of a request: the route's endpoint names its API ('mailchimp.campaigns')."""
        path = urlsplit(raw_path).path
        for m, pattern, endpoint, _handler in self.routes:
            if m == method and pattern.match(path):
                return endpoint.split(".")[0], endpoint
        return "", ""

    def admit(self, api: str, endpoint: str, method: str, raw_path: str, body: bytes) -> Response | None:
        """Count a request in progress; None if the API's documented limits allow it, else its throttling answer."""
        limits = self.limits.get(api) or Limits()
        now = time.monotonic()
        with self._lock:
            usage = self.usage
            usage.requests[api] += 1
            usage.in_flight[api] += 1
            concurrent = usage.in_flight[api]
            usage.peak[api] = max(usage.peak[api], concurrent)
            key, page = _resource(method, raw_path, body)
            pages, requests = usage.resources.setdefault((endpoint, key), (set(), [0]))
            pages.add(page)
            requests[0] += 1
            if limits.concurrent is not None and concurrent > limits.concurrent:
                usage.throttled[api] += 1
                return self.throttled.get(api, _too_many)(None, 0.0)
            applicable = [rate for rate in limits.rates if fnmatch.fnmatchcase(endpoint, rate.endpoints)]
            windows = []
            for rate in applicable:
                window = usage.windows.setdefault((api, rate), deque())
                while window and window[0] <= now - rate.seconds:
                    window.popleft()
                if len(window) >= rate.calls:
                    usage.throttled[api] += 1
                    return self.throttled.get(api, _too_many)(rate, max(0.0, window[0] + rate.seconds - now))
                windows.append((rate, window))
            for rate, window in windows:  # within every rate: the call counts in each
                window.append(now)
                usage.rate_peak[(api, rate)] = max(usage.rate_peak.get((api, rate), 0), len(window))
        return None

    def release(self, api: str) -> None:
        with self._lock:
            self.usage.in_flight[api] -= 1

    def limits_report(self) -> dict[str, Any]:
        """Per API: its documented limits, the peaks clients reached and the throttling errors answered."""
        with self._lock:
            usage = self.usage
            apis: dict[str, Any] = {}
            for api in sorted(set(self.limits) | set(usage.requests)):
                limits = self.limits.get(api) or Limits()
                apis[api] = {
                    "requests": usage.requests[api], "concurrent_limit": limits.concurrent,
                    "peak_concurrent": usage.peak[api], "throttled": usage.throttled[api],
                    "rates": [{"name": r.name, "endpoints": r.endpoints, "calls": r.calls, "seconds": r.seconds,
                               "peak": usage.rate_peak.get((api, r), 0)} for r in limits.rates],
                }
            resources = [[endpoint, key, len(pages), requests[0]] for (endpoint, key), (pages, requests) in sorted(usage.resources.items())]
        windows = self.rate_windows
        if windows is not None and "x" in apis:  # X's per-endpoint fixed windows live in its own module
            apis["x"]["rates"] += [{"name": endpoint, "endpoints": endpoint, "calls": limit, "seconds": windows.seconds,
                                    "peak": max(windows.calls.get(endpoint, [0]))} for endpoint, limit in sorted(windows.limits.items())]
            apis["x"]["throttled"] += sum(windows.refused.values())
        return {"latency_ms": round(self.latency * 1000, 3), "apis": apis, "resources": resources}

    def reset_usage(self) -> None:
        with self._lock:
            in_flight = self.usage.in_flight
            self.usage = Usage()
            self.usage.in_flight = in_flight  # requests still in progress stay counted

    # --- dispatch ---------------------------------------------------------------------
    def dispatch(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> tuple[Response, FaultRule | None]:
        parts = urlsplit(raw_path)
        path = parts.path
        if path.startswith("/_sandbox/"):
            return self._control(method, path, body), None
        for m, pattern, endpoint, handler in self.routes:
            match = pattern.match(path)
            if m == method and match:
                query = parse_qs(parts.query, keep_blank_values=True)
                with self._lock:
                    self.requests[endpoint] += 1
                    self.query_params[endpoint.split(".")[0]].update(query.keys())
                fault = self.faults.take_transport(endpoint)
                if fault and fault.kind in ("429", "5xx", "throttle", "redirect"):
                    return fault.response(endpoint, self), fault
                req = Request(method, path, query, headers, body, match, self, endpoint)
                response = handler(req)
                if response.records_key and isinstance(response.body, dict):
                    self.faults.shape_records(endpoint, response.body, response.records_key)
                return response, fault
        return Response(404, {"error": f"sandbox has no route for {method} {path}"}), None

    def _control(self, method: str, path: str, body: bytes) -> Response:
        payload = json.loads(body or b"{}") if method == "POST" else {}
        if path == "/_sandbox/faults":
            if method == "POST":
                self.faults.clear() if payload.get("clear") else None
                for rule in payload.get("rules", []):
                    self.faults.add(FaultRule(**rule))
            return Response(200, {"rules": [r.__dict__ for r in self.faults.rules]})
        if path == "/_sandbox/clock" and method == "POST":
            self.now = datetime.fromisoformat(payload["now"]) if payload.get("now") else None
            return Response(200, {"now": self.now.isoformat()})
        if path == "/_sandbox/truth":
            from connectors.sandbox.truth import campaign_engaged_users

            rows = campaign_engaged_users(self.world, self.now)
            return Response(200, {"now": self.now.isoformat(), "campaign_engaged_users": [
                {"campaign_key": key, "channel": channel, **counts} for (key, channel), counts in rows.items()]})
        if path == "/_sandbox/requests":
            return Response(200, dict(self.requests))
        if path == "/_sandbox/limits":
            if method == "POST" and payload.get("reset"):
                self.reset_usage()
            return Response(200, self.limits_report())
        if path == "/_sandbox/latency":
            if method == "POST":
                self.latency = max(0.0, float(payload.get("ms", 0)) / 1000)
            return Response(200, {"latency_ms": round(self.latency * 1000, 3)})
        return Response(404, {"error": "unknown control endpoint"})


def sandbox_env(url: str, credentials: Credentials | None = None) -> dict[str, str]:
    """The connector settings for a sandbox at `url`: every API module's exports (see .env.example for the real services)."""
    c = credentials or Credentials()
    env: dict[str, str] = {}
    for module in api_modules().values():
        env.update(module.exports(url, c))
    env["ENGAGEMENT_SOURCES"] = ",".join(source.name for source in SOURCES)  # the sandbox serves them all
    # the demo's salt is public; a real deployment sets its own secret one
    env["ENGAGEMENT_PII_SALT"] = "sandbox-demo-salt"
    return env


class _Listener(ThreadingHTTPServer):
    # socketserver's default backlog of 5 drops connections a client opens at once beyond it, and
    # the client's SYN is retried a second later: concurrent clients must all get in at once
    request_queue_size = 128


def _too_many(rate: Rate | None, retry_in: float) -> Response:
    """The throttling answer of an API module that names none of its own (test probes)."""
    return Response(429, {"message": "Too Many Requests"})


def _resource(method: str, raw_path: str, body: bytes) -> tuple[str, str]:
    """(what a request reads, which page of it): the path, the other query parameters and for a POST
    (GA4's report, HubSpot's search) a digest of its body without the paging fields; then the paging
    parameters' values."""
    parts = urlsplit(raw_path)
    query = parse_qs(parts.query, keep_blank_values=True)
    rest = sorted((k, v) for k, vs in query.items() if k not in PAGING_PARAMS for v in vs)
    paging = sorted((k, v) for k, vs in query.items() if k in PAGING_PARAMS and k != "access_token" for v in vs)
    key = parts.path + ("?" + "&".join(f"{k}={v}" for k, v in rest) if rest else "")
    if method == "POST" and body:
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            paging += sorted((k, str(v)) for k, v in payload.items() if k in PAGING_PARAMS)
            payload = {k: v for k, v in payload.items() if k not in PAGING_PARAMS}
            key += " " + hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]
    return key, "&".join(f"{k}={v}" for k, v in paging)


def _make_handler(server: SandboxServer) -> type[BaseHTTPRequestHandler]:
    class SandboxHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go in separate writes: avoid the delayed-ACK stall

        def log_message(self, *args) -> None:  # quiet: tests read counts, not logs
            pass

        def date_time_string(self, timestamp=None) -> str:  # the Date header follows the world's clock
            return email.utils.format_datetime(server.now.astimezone(timezone.utc), usegmt=True)

        def _handle(self) -> None:
            began = time.monotonic()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            if self.path.startswith("/_sandbox/"):  # control: no latency, no limits
                self._send(*server.dispatch(self.command, self.path, headers, body))
                return
            api, endpoint = server.api_of(self.command, self.path)
            try:
                refused = server.admit(api, endpoint, self.command, self.path, body)
                response, fault = (refused, None) if refused is not None else server.dispatch(self.command, self.path, headers, body)
                if fault and fault.kind == "slow":
                    time.sleep(fault.seconds or 5)
                wait = server.latency - (time.monotonic() - began)
                if wait > 0:
                    time.sleep(wait)  # the API's answer time: a sleep, no CPU
            finally:
                server.release(api)  # before the answer leaves: the client's next request must not overlap it
            self._send(response, fault)

        def _send(self, response: Response, fault: FaultRule | None) -> None:
            if fault and fault.kind == "drop":
                self.close_connection = True
                self.connection.close()
                return
            payload = response.body if isinstance(response.body, bytes) else json.dumps(response.body).encode()
            claimed = len(payload)
            if fault and fault.kind == "truncate":  # promise the whole body, deliver half, hang up
                payload = payload[: max(1, len(payload) // 2)]
                self.close_connection = True
            elif fault and fault.kind == "bad_json":  # a well-framed answer whose JSON is cut short
                payload = payload[: max(1, len(payload) // 2)]
                claimed = len(payload)
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(claimed))
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.end_headers()
            try:
                self.wfile.write(payload)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass
            if fault and fault.kind == "truncate":
                self.connection.close()

        do_GET = do_POST = _handle

    return SandboxHandler
