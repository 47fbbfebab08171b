"""One local HTTP server that imitates every declared source's API at its real paths.

Each API lives in its own module (`api_ga4.py`, ...), named by its source's declaration
(connectors/registry.py): its handlers labelled with `route()`, its `error_body`, the
`CREDENTIALS` it accepts and the settings it `exports`. Each server instance collects those
into its own route table.
The server adds what all of them share: a clock ("now" for the world), request counting per
endpoint, and fault injection per endpoint (see `faults.py`). Control endpoints under
`/_sandbox/` let a separate process (the CLI, a benchmark) set faults and the clock.
"""

from __future__ import annotations

import email.utils
import importlib
import json
import threading
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from connectors.registry import SOURCES
from connectors.sandbox.faults import FaultPlan, FaultRule
from connectors.sandbox.routing import Handler, Request, Response, Route, route, routes_of  # noqa: F401 (route: tests' routes)
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


class SandboxServer:
    def __init__(
        self,
        world: World | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: Credentials | None = None,
        extra_routes: tuple[Handler, ...] = (),
    ):
        self.world = world or World(WorldConfig())
        modules = api_modules()
        self.routes: list[Route] = routes_of(*modules.values(), *extra_routes)
        self.error_bodies = {name: module.error_body for name, module in modules.items()}
        self.credentials = credentials or Credentials()
        self.faults = FaultPlan()
        self.requests: Counter[str] = Counter()
        # api -> query parameter names received: tests prove no credential travelled in a URL
        self.query_params: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.in_flight: Counter[str] = Counter()
        self.rate_windows: Any = None  # X's per-endpoint rate-limit windows, made on first use (api_x.RateWindows)
        self._lock = threading.Lock()
        self._now: datetime | None = None
        self._httpd = ThreadingHTTPServer((host, port), _make_handler(self))
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


def _make_handler(server: SandboxServer) -> type[BaseHTTPRequestHandler]:
    class SandboxHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go in separate writes: avoid the delayed-ACK stall

        def log_message(self, *args) -> None:  # quiet: tests read counts, not logs
            pass

        def date_time_string(self, timestamp=None) -> str:  # the Date header follows the world's clock
            return email.utils.format_datetime(server.now.astimezone(timezone.utc), usegmt=True)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            api = self.path.split("/")[1] if self.path.count("/") else ""
            with server._lock:
                server.in_flight[api] += 1
                concurrent = server.in_flight[api]
            try:
                if api == "3.0" and concurrent > 10:  # Mailchimp's connection limit
                    response, fault = Response(429, {
                        "type": "https://mailchimp.com/developer/marketing/docs/errors/",
                        "title": "Too Many Requests", "status": 429,
                        "detail": "You have exceeded the limit of 10 simultaneous connections.",
                        "instance": "sandbox"}), None
                else:
                    response, fault = server.dispatch(self.command, self.path, headers, body)
                self._send(response, fault)
            finally:
                with server._lock:
                    server.in_flight[api] -= 1

        def _send(self, response: Response, fault: FaultRule | None) -> None:
            if fault and fault.kind == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if fault and fault.kind == "slow":
                time.sleep(fault.seconds or 5)
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
