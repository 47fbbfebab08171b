"""What the sandbox's API modules and its server share: a request, a response, how a handler names its route.

Kept apart from the server so the API modules never import it (the server imports them). There is no
process-wide route table: `route` only labels a handler, and each server collects the handlers of
the API modules it serves (and any a test hands it) into its own table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.sandbox.world import World


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    match: re.Match
    server: Any  # the SandboxServer answering: its world, clock, credentials and faults
    endpoint: str

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            return None

    @property
    def world(self) -> World:
        return self.server.world

    @property
    def now(self) -> datetime:
        return self.server.now

    @property
    def credentials(self) -> Any:
        return self.server.credentials

    def fault(self, kind: str) -> Any:  # a faults.FaultRule, or None
        """Consume a data-shaping fault (overlap, extra_fields, ...) if one is armed here."""
        return self.server.faults.take(self.endpoint, kind)


@dataclass
class Response:
    status: int
    body: Any = None  # JSON-serialisable, or bytes
    headers: dict[str, str] = field(default_factory=dict)
    records_key: str | None = None  # where the records sit, for record-shaping faults


Handler = Callable[[Request], Response]
Route = tuple[str, re.Pattern, str, Handler]


@dataclass(frozen=True)
class Rate:
    """At most `calls` requests in any `seconds` (a rolling window), counting the endpoints that match the
    glob `endpoints`; `name` is how the API names the limit in its error (HubSpot's policyName)."""

    calls: int
    seconds: float
    endpoints: str = "*"
    name: str = ""


@dataclass(frozen=True)
class Limits:
    """What an API documents one account may do: simultaneous requests and rates. The server counts
    both per API and answers a request beyond them with the API's own throttling error."""

    concurrent: int | None = None
    rates: tuple[Rate, ...] = ()


def route(method: str, pattern: str, endpoint: str) -> Callable[[Handler], Handler]:
    """Label a handler with its route; `endpoint` names it for faults and request counts, e.g. 'x.tweets'."""

    def label(fn: Handler) -> Handler:
        fn.sandbox_route = (method, re.compile(pattern + r"$"), endpoint)  # type: ignore[attr-defined]
        return fn

    return label


def routes_of(*owners: Any) -> list[Route]:
    """The labelled handlers among `owners` (modules, or handlers themselves), in definition order."""
    out: list[Route] = []
    for owner in owners:
        candidates = [owner] if callable(owner) and hasattr(owner, "sandbox_route") else list(vars(owner).values())
        for fn in candidates:
            label = getattr(fn, "sandbox_route", None)
            if label is not None:
                out.append((*label, fn))
    return out
