"""How a source is declared: its settings, its client (which carries its streams and its dialect) and its sandbox.

Settings loading, client building, the sandbox's exported variables, `.env.example` and the
ingestion assets all derive from these declarations; `connectors/registry.py` lists them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class Setting:
    variable: str  # the environment variable
    argument: str  # the client's `from_settings` argument it feeds
    required: bool = True  # an enabled source without it is a configuration error naming it
    default: str | None = None  # for an optional setting: the value when unset (None: the client's own default)
    example: str = ""  # the value shown in .env.example (never a real secret)
    help: str = ""  # one line for .env.example


@dataclass(frozen=True)
class Source:
    name: str  # as in ENGAGEMENT_SOURCES and raw_<name>
    title: str  # the API, as .env.example heads its section
    client_path: str  # "module:Class" of its ApiClient (streams, paging, dialect)
    settings: tuple[Setting, ...]
    sandbox_module: str  # the sandbox module that imitates it (routes, error body, exported settings)

    @cached_property
    def client_class(self) -> Any:
        module, _, name = self.client_path.partition(":")
        return getattr(importlib.import_module(module), name)

    @property
    def streams(self) -> tuple:
        return self.client_class.STREAMS

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(s.variable for s in self.settings if s.required)

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(s.variable for s in self.settings)

    @property
    def url_variable(self) -> str:
        return next(s.variable for s in self.settings if s.argument == "base_url")

    def defaults(self) -> dict[str, str]:
        return {s.variable: s.default for s in self.settings if not s.required and s.default is not None}

    def client_arguments(self, get) -> dict[str, Any]:
        """`from_settings` keyword arguments, each read with `get(variable)`."""
        return {s.argument: get(s.variable) for s in self.settings}
