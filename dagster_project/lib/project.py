"""Where the project lives, and the one rule for its `.env` file (no Dagster import).

Default paths are the project's own `warehouse/` whatever the current directory, so a command run
from another folder finds the same warehouse instead of silently starting an empty one there.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

from dotenv import dotenv_values

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WAREHOUSE = "warehouse/engagement.duckdb"
DEFAULT_SERVING = "warehouse/serving.duckdb"
DEFAULT_LAKE = "warehouse/lake"  # ENGAGEMENT_ENGINE=spark: raw Parquet, Spark's tables and metastore, published marts
DAGSTER_HOME_DEFAULT = PROJECT_ROOT / ".dagster_home"


def project_path(value: str | None, default: str) -> str:
    """A warehouse path from a variable: unset means the default; a relative path (the default, or a
    value copied from .env.example) is under the project folder, not the current directory."""
    path = Path(value.strip() if value and value.strip() else default).expanduser()
    return str(path if path.is_absolute() else PROJECT_ROOT / path)


def load_project_env(environ: MutableMapping[str, str] | None = None, env_file: Path | None = None) -> list[str]:
    """Read the project's `.env` into the environment without overriding a variable already set
    (the shell, CI and the scheduler win over the file). Returns the names it set."""
    environ = os.environ if environ is None else environ
    env_file = env_file or PROJECT_ROOT / ".env"
    if not env_file.is_file():
        return []
    added = []
    for name, value in dotenv_values(env_file).items():
        if value is not None and name not in environ:
            environ[name] = value
            added.append(name)
    return added
