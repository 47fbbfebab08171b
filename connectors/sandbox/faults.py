"""Fault injection for the sandbox, armed per endpoint.

A rule names an endpoint (glob over names like `mailchimp.email_activity`, `x.*`), a kind and
how many times it fires (`times=None`: every time, a persistent fault). Transport faults replace
or damage the answer; record faults reshape the records of an otherwise good answer.

| kind          | effect                                                                   |
|---------------|--------------------------------------------------------------------------|
| 429           | the API's own 429 body; `retry_after` header and/or X's `reset_in` seconds |
| 5xx           | `status` (default 503) with the API's error body                          |
| throttle      | Meta's throttle: HTTP `status` (400) with error `code` (4/17/32/613/80001) |
| redirect      | 302 to another host                                                       |
| drop          | connection closed before any answer                                       |
| slow          | answer delayed by `seconds`                                               |
| truncate      | Content-Length promises the whole body, half arrives, connection closes  |
| bad_json      | a well-framed answer whose JSON text is cut in half                       |
| overlap       | the page starts `rows` records early (offset drift), repeating records    |
| extra_fields  | every record gains unknown fields                                         |
| missing_field | `field` removed from the first record                                    |
| wrong_type    | `field` of the first record becomes a list                               |
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connectors.sandbox.routing import Response

TRANSPORT = {"429", "5xx", "throttle", "redirect", "drop", "slow", "truncate", "bad_json"}
RECORDS = {"overlap", "extra_fields", "missing_field", "wrong_type"}

ErrorBody = Callable[[int, str, int | None], Any]  # an API's error body: (status, message, code) -> body


@dataclass
class FaultRule:
    endpoint: str
    kind: str
    times: int | None = 1
    status: int | None = None
    retry_after: str | None = None
    reset_in: float | None = None
    seconds: float | None = None
    field: str | None = None
    code: int | None = None
    rows: int = 2

    def __post_init__(self) -> None:
        if self.kind not in TRANSPORT | RECORDS:
            raise ValueError(f"unknown fault kind {self.kind!r}")

    def response(self, endpoint: str, server: Any) -> Response:
        api = endpoint.split(".")[0]
        body_for = server.error_bodies.get(api, lambda status, message, code: {"message": message})
        headers: dict[str, str] = {}
        if self.kind == "429":
            status, message = 429, "Too Many Requests"
            if self.retry_after is not None:
                headers["Retry-After"] = self.retry_after
            if self.reset_in is not None:
                headers["x-rate-limit-limit"] = "900"
                headers["x-rate-limit-remaining"] = "0"
                headers["x-rate-limit-reset"] = str(int(time.time() + self.reset_in))
        elif self.kind == "throttle":
            status, message = self.status or 400, {
                4: "(#4) Application request limit reached", 17: "(#17) User request limit reached",
                32: "(#32) Page request limit reached", 613: "(#613) Calls to this api have exceeded the rate limit",
                80001: "(#80001) There have been too many calls to this Page account. Wait a bit and try again.",
            }.get(self.code or 32, "(#32) Page request limit reached")
        elif self.kind == "redirect":
            return Response(302, {}, {"Location": "http://127.0.0.2:1/elsewhere"})
        else:
            status, message = self.status or 503, "The service is currently unavailable."
        return Response(status, body_for(status, message, self.code if self.kind == "throttle" else None), headers)


class FaultPlan:
    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def _take(self, endpoint: str, kinds: set[str]) -> FaultRule | None:
        with self._lock:
            for rule in self.rules:
                if rule.kind in kinds and fnmatch.fnmatchcase(endpoint, rule.endpoint):
                    if rule.times is not None:
                        if rule.times <= 0:
                            continue
                        rule.times -= 1
                    return rule
        return None

    def take_transport(self, endpoint: str) -> FaultRule | None:
        return self._take(endpoint, TRANSPORT)

    def take(self, endpoint: str, kind: str) -> FaultRule | None:
        return self._take(endpoint, {kind})

    def shape_records(self, endpoint: str, body: dict, records_key: str) -> None:
        records = body.get(records_key)
        if not isinstance(records, list) or not records:
            return
        if self.take(endpoint, "extra_fields"):
            for record in records:
                if isinstance(record, dict):
                    record["sandbox_unknown_field"] = {"added": "by fault injection"}
                    record["another_new_field"] = 42
        rule = self.take(endpoint, "missing_field")
        if rule and isinstance(records[0], dict):
            _nested_pop(records[0], rule.field or "id")
        rule = self.take(endpoint, "wrong_type")
        if rule and isinstance(records[0], dict):
            _nested_set(records[0], rule.field or "id", ["not", "a", "scalar"])


def _walk(record: Any, parents: list[str], create: bool) -> Any:
    """Follow a dotted path; numeric parts index lists (`activity.0.action`)."""
    for key in parents:
        if isinstance(record, list) and key.isdigit() and int(key) < len(record):
            record = record[int(key)]
        elif isinstance(record, dict):
            record = record.setdefault(key, {}) if create else record.get(key, {})
        else:
            return None
    return record


def _nested_pop(record: dict, dotted: str) -> None:
    *parents, leaf = dotted.split(".")
    target = _walk(record, parents, create=False)
    if isinstance(target, dict):
        target.pop(leaf, None)


def _nested_set(record: dict, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    target = _walk(record, parents, create=True)
    if isinstance(target, dict):
        target[leaf] = value


def page_bounds(request_fault: FaultRule | None, offset: int) -> int:
    """Where a page really starts: an armed `overlap` fault moves it back by `rows` records.

    Handlers take the fault only when offset > 0 would make it bite, so a `times=1` rule is
    never spent on a first page where it cannot shift anything.
    """
    if request_fault is None:
        return offset
    return max(0, offset - request_fault.rows)
