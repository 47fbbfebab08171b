"""Configuration from environment variables, read when a run starts (never at import time).

Every problem is a ConfigError whose message names the variable to fix, raised before any
request is sent or any file is written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from connectors.http import ConfigError, validate_base_url
from connectors.registry import SOURCES
from dagster_project.lib.project import DEFAULT_LAKE, DEFAULT_SERVING, DEFAULT_WAREHOUSE, project_path

# all derived from the source declarations (connectors/registry.py)
ALL_SOURCES = tuple(source.name for source in SOURCES)
# source -> (required variables, base URL variable)
SOURCE_VARIABLES: dict[str, tuple[tuple[str, ...], str]] = {source.name: (source.required, source.url_variable) for source in SOURCES}
OPTIONAL_DEFAULTS = {name: value for source in SOURCES for name, value in source.defaults().items()}
ENGINES = ("duckdb", "spark")
SPARK_METHODS = ("session", "thrift", "http")
INGEST_PROCESSES = ("child", "same")


@dataclass(frozen=True)
class Settings:
    warehouse: str
    serving: str
    sources: tuple[str, ...]
    lookback: timedelta
    values: Mapping[str, str] = field(repr=False)  # credentials live here; repr never shows them
    pii_salt: str = field(default="", repr=False)
    horizon: timedelta = timedelta(days=30)  # interactions with posts and sends younger than this are re-read
    counter_horizon: timedelta = timedelta(days=90)  # lifetime counters of posts and sends younger than this
    engine: str = "duckdb"  # ENGAGEMENT_ENGINE: where dbt runs (duckdb, or spark over Parquet in `lake`)
    lake: str = DEFAULT_LAKE  # ENGAGEMENT_LAKE: where raw Parquet lands when the engine is spark
    spark_method: str = "session"  # SPARK_METHOD: a local Spark in dbt's process, or a cluster (thrift, http)
    read_timeout: float = 30.0  # ENGAGEMENT_HTTP_READ_TIMEOUT_SECONDS: longest wait for an API's answer before a retry
    # ENGAGEMENT_INGEST_PROCESS: fetch and load in a child that exits before dbt (`child`), or in the run's process (`same`)
    ingest_process: str = "child"

    def get(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is None:
            return OPTIONAL_DEFAULTS.get(name)
        return value

    def enabled(self, source: str) -> bool:
        return source in self.sources


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    raw_sources = env.get("ENGAGEMENT_SOURCES", ",".join(ALL_SOURCES))
    sources = tuple(s.strip().lower() for s in raw_sources.split(",") if s.strip())
    unknown = [s for s in sources if s not in ALL_SOURCES]
    if unknown:
        raise ConfigError(
            f"ENGAGEMENT_SOURCES names unknown source(s) {', '.join(unknown)}; choose from {','.join(ALL_SOURCES)}"
        )
    lookback = _days(env, "ENGAGEMENT_LOOKBACK_DAYS", 7)
    horizon = _days(env, "ENGAGEMENT_HORIZON_DAYS", 30)
    counter_horizon = _days(env, "ENGAGEMENT_COUNTER_HORIZON_DAYS", 90)
    if counter_horizon < horizon:
        raise ConfigError(f"ENGAGEMENT_COUNTER_HORIZON_DAYS ({counter_horizon}) must be at least ENGAGEMENT_HORIZON_DAYS "
                          f"({horizon}): counters are read wherever interactions are")
    pii_salt = env.get("ENGAGEMENT_PII_SALT", "").strip()
    if not pii_salt:
        raise ConfigError(
            "ENGAGEMENT_PII_SALT is not set: the serving snapshot hashes person ids with it. Set it to a long random "
            "string (for example `openssl rand -hex 32`), keep it secret and stable (changing it changes every id)"
        )
    for source in sources:
        required, url_var = SOURCE_VARIABLES[source]
        missing = [name for name in required if not env.get(name, "").strip()]
        if missing:
            raise ConfigError(
                f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set, and source '{source}' is "
                f"enabled in ENGAGEMENT_SOURCES: set {'it' if len(missing) == 1 else 'them'} or remove '{source}'"
            )
        if env.get(url_var):
            validate_base_url(env[url_var], url_var)
    engine = env.get("ENGAGEMENT_ENGINE", "").strip().lower() or "duckdb"
    if engine not in ENGINES:
        raise ConfigError(f"ENGAGEMENT_ENGINE must be one of {', '.join(ENGINES)} (got {engine!r})")
    spark_method = _spark_method(env) if engine == "spark" else "session"
    lake = env.get("ENGAGEMENT_LAKE", "").strip()
    read_timeout = _seconds(env, "ENGAGEMENT_HTTP_READ_TIMEOUT_SECONDS", 30.0)
    ingest_process = env.get("ENGAGEMENT_INGEST_PROCESS", "").strip().lower() or "child"
    if ingest_process not in INGEST_PROCESSES:
        raise ConfigError(f"ENGAGEMENT_INGEST_PROCESS must be one of {', '.join(INGEST_PROCESSES)} (got {ingest_process!r})")
    return Settings(
        warehouse=project_path(env.get("ENGAGEMENT_WAREHOUSE"), DEFAULT_WAREHOUSE),
        serving=project_path(env.get("ENGAGEMENT_SERVING"), DEFAULT_SERVING),
        sources=sources,
        lookback=timedelta(days=lookback),
        horizon=timedelta(days=horizon),
        counter_horizon=timedelta(days=counter_horizon),
        values={k: v for k, v in env.items() if k in _KNOWN},
        pii_salt=pii_salt,
        engine=engine,
        # a URI is the lake loader's to judge (it names the schemes it cannot write)
        lake=lake if "://" in lake else project_path(lake, DEFAULT_LAKE),
        spark_method=spark_method,
        read_timeout=read_timeout,
        ingest_process=ingest_process,
    )


def _spark_method(env: Mapping[str, str]) -> str:
    """The dbt-spark connection method, checked before any request: a cluster needs its host (and Databricks a token)."""
    method = env.get("SPARK_METHOD", "").strip().lower() or "session"
    if method not in SPARK_METHODS:
        raise ConfigError(f"SPARK_METHOD must be one of {', '.join(SPARK_METHODS)} (got {method!r})")
    if method != "session" and not env.get("SPARK_HOST", "").strip():
        raise ConfigError(f"SPARK_HOST is not set, and SPARK_METHOD is {method}: set it to the cluster's host name")
    if method == "http" and not env.get("SPARK_TOKEN", "").strip():
        raise ConfigError("SPARK_TOKEN is not set, and SPARK_METHOD is http: set it to the workspace's access token")
    return method


def _days(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, str(default)).strip()
    if not text.isdigit() or int(text) > 365:
        raise ConfigError(f"{name} must be a whole number of days from 0 to 365 (got {text!r})")
    return int(text)


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip() or str(default)
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 1 <= seconds <= 3600:
        raise ConfigError(f"{name} must be a number of seconds from 1 to 3600 (got {text!r})")
    return seconds


_KNOWN = {name for source in SOURCES for name in source.variables}
