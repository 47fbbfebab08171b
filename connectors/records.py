"""Reading API records, apart from transport: required fields, timestamps, and which fields were read.

Every builder of a typed record (`post_from_api`, ...) reads through these, so a missing or
mistyped field fails with a SchemaError naming it, and fields an API adds are noticed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from connectors.errors import SchemaError


class ReadTracking(dict):
    """A record that remembers which of its keys were looked up."""

    def __init__(self, record: dict) -> None:
        super().__init__(record)
        self._read: set[str] = set()

    def __getitem__(self, key):
        self._read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key) -> bool:
        self._read.add(key)
        return super().__contains__(key)

    def get(self, key, default=None):
        self._read.add(key)
        return super().get(key, default)

    def unread(self) -> set[str]:
        return set(self) - self._read


def require(record: Mapping[str, Any], key: str, source: str, stream: str, kind: type | tuple[type, ...] | None = None) -> Any:
    """Read a required field from an API record, naming it when it is absent or mistyped."""
    if not isinstance(record, Mapping) or key not in record or record[key] is None:
        raise SchemaError(source, stream, key)
    value = record[key]
    if kind is not None and not isinstance(value, kind):
        raise SchemaError(source, stream, key, f"of type {type(value).__name__}")
    return value


def require_path(
    record: Any, dotted: str, source: str, stream: str, kind: type | tuple[type, ...] | None = None,
    required: bool = True, name: str | None = None,
) -> Any:
    """A nested field (`reactions.summary.total_count`), named in full (or as `name`) when missing or mistyped.

    With `required=False` an absent or null field is None; a present one must still have `kind`.
    A bool never passes for a number.
    """
    value: Any = record
    for key in dotted.split("."):
        if not isinstance(value, Mapping) or value.get(key) is None:
            if required:
                raise SchemaError(source, stream, name or dotted)
            return None
        value = value[key]
    numeric = kind in (int, float) or (isinstance(kind, tuple) and int in kind)
    if kind is not None and (not isinstance(value, kind) or (numeric and isinstance(value, bool))):
        raise SchemaError(source, stream, name or dotted, f"of type {type(value).__name__}")
    return value


def require_ts(record: Any, key: str, source: str, stream: str):
    """A required ISO 8601 timestamp field, parsed to aware UTC; unparseable text is named."""
    text = require(record, key, source, stream, str)
    try:
        return parse_ts(text)
    except ValueError:
        raise SchemaError(source, stream, key, f"not a timestamp ({text!r})") from None


def observed_at(response_headers) -> datetime:
    """When the API says it answered (its Date header), else our clock: snapshots are dated by it."""
    value = response_headers.get("Date") if response_headers is not None else None
    if value:
        try:
            return parsedate_to_datetime(value).astimezone(timezone.utc)
        except (TypeError, ValueError):
            pass
    return datetime.now(timezone.utc)


def parse_ts(value: str | None) -> datetime | None:
    """ISO 8601 from any of the APIs (`Z`, `+00:00`, Meta's `+0000`) to an aware UTC datetime."""
    if value is None or value == "":
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def first_seen(records: list[dict], key: str, seen: set) -> list[dict]:
    """The records whose `key` is not in `seen`, which they join: a record that another page repeats
    (pages drift while a listing changes under them) is kept once."""
    kept = []
    for record in records:
        if record[key] not in seen:
            seen.add(record[key])
            kept.append(record)
    return kept
