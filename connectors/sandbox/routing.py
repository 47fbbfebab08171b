"""What the sandbox's API modules and its server share: a request, a response, the route table.

Kept apart from the server so the API modules never import it (the server imports them).
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
ROUTES: list[tuple[str, re.Pattern, str, Handler]] = []


def route(method: str, pattern: str, endpoint: str) -> Callable[[Handler], Handler]:
    """Register a handler; `endpoint` names it for faults and request counts, e.g. 'x.tweets'."""

    def register(fn: Handler) -> Handler:
        ROUTES.append((method, re.compile(pattern + r"$"), endpoint, fn))
        return fn

    return register
