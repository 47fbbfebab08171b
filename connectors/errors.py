"""The connectors' error types: every message names the source and never carries a credential."""

from __future__ import annotations


class ConnectorError(Exception):
    """Base class: every message names the source and never carries a credential."""


class ConfigError(ConnectorError):
    """A setting is missing or malformed; the message names the variable to fix."""


class ApiError(ConnectorError):
    def __init__(self, source: str, endpoint: str, status: int | None, message: str):
        self.source, self.endpoint, self.status, self.api_message = source, endpoint, status, message
        status_text = f"HTTP {status}" if status is not None else "no response"
        super().__init__(f"{source}: {endpoint} failed ({status_text}): {message}")

    def __reduce__(self):  # pickles with its fields (a run's child process sends it to the run)
        return type(self), (self.source, self.endpoint, self.status, self.api_message), self.__dict__


class SchemaError(ConnectorError):
    """An answer lacks a required field or carries one of the wrong type."""

    def __init__(self, source: str, stream: str, field_name: str, detail: str = "missing"):
        self.source, self.stream, self.field, self.detail = source, stream, field_name, detail
        super().__init__(f"{source}.{stream}: required field '{field_name}' is {detail}")

    def __reduce__(self):
        return type(self), (self.source, self.stream, self.field, self.detail), self.__dict__


class RateLimitTooLong(ConnectorError):
    """The API asked us to wait longer than the configured ceiling."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        super().__init__(f"rate limited for {seconds:.0f} s")

    def __reduce__(self):
        return type(self), (self.seconds,), self.__dict__
