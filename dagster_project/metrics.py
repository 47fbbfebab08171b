"""The semantic layer: metrics defined once in dbt (MetricFlow), answered from the serving snapshot.

The semantic models and metrics live in dbt_models/models/semantic/. MetricFlow reads them from
dbt's semantic manifest and runs its SQL through the dbt profile's `serving` target, which attaches
the published snapshot read-only under the catalog name the models have in the warehouse: the
working warehouse and its write lock are never touched, and one manifest serves both.

    engagement metrics list
    engagement metrics query --metrics engagement_rate --group-by metric_time__day,campaign
    python -m dagster_project.metrics dictionary [--check]   # README's metric dictionary
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors.http import ConfigError
from dagster_project.lib.dbt_manifest import DBT_PROJECT_DIR, MANIFEST, ensure_manifest

if TYPE_CHECKING:
    from metricflow.data_table.mf_table import MetricFlowDataTable
    from metricflow.engine.metricflow_engine import MetricFlowEngine

REPO_ROOT = DBT_PROJECT_DIR.parent
README = REPO_ROOT / "README.md"
SEMANTIC_MANIFEST = MANIFEST.parent / "semantic_manifest.json"
SERVING_TARGET = "serving"
DICTIONARY_START = "<!-- metric-dictionary:start (generated from dbt_models/models/semantic by `python -m dagster_project.metrics dictionary`; edit the YAML, not this table) -->"
DICTIONARY_END = "<!-- metric-dictionary:end -->"


def warehouse_path() -> Path:
    return Path(os.environ.get("ENGAGEMENT_WAREHOUSE") or "warehouse/engagement.duckdb").expanduser().resolve()


def serving_path() -> Path:
    return Path(os.environ.get("ENGAGEMENT_SERVING") or "warehouse/serving.duckdb").expanduser().resolve()


def catalog_name(database_file: Path) -> str:
    """The catalog DuckDB (and dbt-duckdb) names a database file: the first dot-separated part of its name."""
    return database_file.name.lstrip(".").split(".")[0]


def load_semantic_manifest() -> dict[str, Any]:
    """dbt's semantic manifest, parsed afresh if a model changed or it names another warehouse catalog."""
    ensure_manifest()
    manifest = json.loads(SEMANTIC_MANIFEST.read_text())
    expected = catalog_name(warehouse_path())
    if {m["node_relation"]["database"] for m in manifest["semantic_models"]} != {expected}:
        ensure_manifest(force=True)  # parsed under another ENGAGEMENT_WAREHOUSE
        manifest = json.loads(SEMANTIC_MANIFEST.read_text())
    return manifest


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def serving_engine() -> Iterator[MetricFlowEngine]:
    """A MetricFlow engine over the serving snapshot (read-only; the warehouse is never opened)."""
    serving, warehouse = serving_path(), warehouse_path()
    if not serving.is_file():
        raise ConfigError(f"ENGAGEMENT_SERVING {serving} does not exist yet: run `engagement refresh` (or `engagement demo`) "
                          "to publish it")
    # The profile reads both paths (relative ones would resolve against dbt's working directory).
    with _environment({"ENGAGEMENT_WAREHOUSE": str(warehouse), "ENGAGEMENT_SERVING": str(serving)}):
        load_semantic_manifest()
        with _environment({"DBT_TARGET": SERVING_TARGET}):
            from dbt_metricflow.cli.cli_configuration import CLIConfiguration

            config = CLIConfiguration()
            config.setup(dbt_profiles_path=DBT_PROJECT_DIR, dbt_project_path=DBT_PROJECT_DIR, configure_file_logging=False)
            yield config.mf


def query(engine: MetricFlowEngine, metrics: Sequence[str], group_by: Sequence[str] = (), where: Sequence[str] = (),
          order_by: Sequence[str] = (), limit: int | None = None) -> MetricFlowDataTable:
    from metricflow.engine.metricflow_engine import MetricFlowQueryRequest

    request = MetricFlowQueryRequest.create(
        metric_names=list(metrics), group_by_names=list(group_by) or None, where_constraints=list(where) or None,
        order_by_names=list(order_by) or None, limit=limit,
    )
    return engine.query(request).result_df


def records(table: MetricFlowDataTable) -> list[dict[str, Any]]:
    return [dict(zip(table.column_names, row, strict=True)) for row in table.rows]


# --- the metric dictionary -------------------------------------------------------------------------

def _cell(text: Any) -> str:
    return str(text or "").replace("|", "\\|").replace("\n", " ").strip()


def dictionary_markdown(manifest: Mapping[str, Any]) -> str:
    """README's metric dictionary: one row per metric, then how to reproduce each mart's rows."""
    models = {m["name"]: m for m in manifest["semantic_models"]}
    measures = {ms["name"]: (m, ms) for m in manifest["semantic_models"] for ms in m["measures"]}
    metrics = {m["name"]: m for m in manifest["metrics"]}

    def model_of(metric: Mapping[str, Any]) -> Mapping[str, Any]:
        if metric["type"] == "simple":
            return measures[metric["type_params"]["measure"]["name"]][0]
        return model_of(metrics[metric["type_params"]["numerator"]["name"]])

    def column(metric: Mapping[str, Any]) -> str:
        meta = (metric.get("config") or {}).get("meta") or {}
        if meta.get("mart_column"):
            return f"`{model_of(metric)['node_relation']['alias']}.{meta['mart_column']}`"
        if meta.get("results_metric"):
            return f"`fct_experiment_results` rate, metric `{meta['results_metric']}`"
        if metric["type"] == "simple":
            measure = measures[metric["type_params"]["measure"]["name"]][1]
            return f"`{measure['agg']}({measure.get('expr') or measure['name']})`"
        return ""

    lines = [
        "| metric | description | grain | numerator | denominator | mart column | source fields |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in sorted(metrics, key=lambda n: (list(models).index(model_of(metrics[n])["name"]), n)):
        metric = metrics[name]
        meta = (metric.get("config") or {}).get("meta") or {}
        ratio = metric["type"] == "ratio"
        numerator = f"`{metric['type_params']['numerator']['name']}`" if ratio else ""
        denominator = f"`{metric['type_params']['denominator']['name']}`" if ratio else ""
        grain = ((model_of(metric).get("config") or {}).get("meta") or {}).get("grain", "")
        lines.append(f"| `{name}` | {_cell(metric['description'])} | {_cell(grain)} | {numerator} | {denominator} | "
                     f"{column(metric)} | {_cell(meta.get('source_fields'))} |")
    lines += [
        "",
        "Grouped by these, a metric reproduces its mart column row for row (tested in `tests/semantic`):",
        "",
        "| semantic model | mart | `--group-by` |",
        "|---|---|---|",
    ]
    for model in models.values():
        group_by = ((model.get("config") or {}).get("meta") or {}).get("mart_grain_group_by")
        if group_by:
            lines.append(f"| `{model['name']}` | `{model['node_relation']['alias']}` | `{','.join(group_by)}` |")
    return "\n".join(lines)


def readme_with_dictionary(readme: str, dictionary: str) -> str:
    start, end = readme.find(DICTIONARY_START), readme.find(DICTIONARY_END)
    if start < 0 or end < start:
        raise ConfigError(f"{README.name} lacks the marker lines {DICTIONARY_START!r} and {DICTIONARY_END!r}")
    return readme[: start + len(DICTIONARY_START)] + "\n" + dictionary + "\n" + readme[end:]


# --- commands ---------------------------------------------------------------------------------------

def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _one_line(exc: Exception) -> str:
    """MetricFlow's multi-line explanation of a bad query as one line: what, which input, suggestions."""
    text = str(exc)
    message = re.search(r"Message:\s*\n(.*?)(?:\n\s*\n|$)", text, re.S)
    given = re.search(r"Query Input:\s*\n\s*(\S+)", text)
    suggestions = re.search(r"Suggestions:(.*?)(?:Query Input:|$)", text, re.S)
    if not message:
        return " ".join(text.split())[:300] or type(exc).__name__
    line = re.sub(r"\s*Common issues are:.*$", "", " ".join(message.group(1).split())).rstrip(".:")
    if given:
        line += f": {given.group(1)}"
    if suggestions:
        names = re.findall(r"'([^']+)'", suggestions.group(1))[:6]
        line += f" (did you mean {', '.join(names)}?)" if names else ""
    return line


def cmd_list(args: argparse.Namespace) -> int:
    with serving_engine() as engine:
        for metric in sorted(engine.list_metrics(), key=lambda m: m.name):
            entities = sorted({e.name for e in engine.entities_for_metrics([metric.name])})
            dimensions = sorted({d.granularity_free_dunder_name for d in metric.dimensions} - {"metric_time"})
            print(f"{metric.name}: {metric.description or ''}")
            print(f"    group by: metric_time__day (__week, __month, ...), {', '.join(entities + dimensions)}")
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    metrics = _names(args.metrics)
    if not metrics:
        raise ConfigError("--metrics names no metric: pass a comma list, e.g. --metrics engagement_rate,sessions")
    with serving_engine() as engine:
        try:
            table = query(engine, metrics, _names(args.group_by or ""), args.where or (), _names(args.order or ""), args.limit)
        except Exception as exc:  # MetricFlow explains unknown names over many lines; keep the first ones
            raise ConfigError(f"metrics query: {_one_line(exc)}; `engagement metrics list` names every metric and group-by") from None
    print(table.text_format())
    return 0


def cmd_dictionary(args: argparse.Namespace) -> int:
    generated = readme_with_dictionary(README.read_text(), dictionary_markdown(load_semantic_manifest()))
    if args.check:
        if generated != README.read_text():
            print(f"{README} metric dictionary differs from the semantic manifest: run "
                  "`python -m dagster_project.metrics dictionary`", file=sys.stderr)
            return 1
        return 0
    README.write_text(generated)
    print(f"wrote the metric dictionary into {README}")
    return 0


def add_metrics_parser(subparsers: argparse._SubParsersAction) -> None:
    """`engagement metrics list | query`: registered by the `engagement` command."""
    metrics = subparsers.add_parser("metrics", help="ask MetricFlow for metrics by name, from the serving snapshot")
    commands = metrics.add_subparsers(dest="metrics_command", required=True)
    listing = commands.add_parser("list", help="every metric with what it can be grouped by")
    listing.set_defaults(func=cmd_list)
    ask = commands.add_parser("query", help="compute metrics, e.g. --metrics engagement_rate --group-by metric_time__day,campaign")
    ask.add_argument("--metrics", required=True, help="comma list of metric names")
    ask.add_argument("--group-by", help="comma list: metric_time__day (or __week, __month), an entity (campaign), a dimension")
    ask.add_argument("--where", action="append", help="MetricFlow filter, e.g. \"{{ Dimension('campaign__campaign_name') }} = 'x'\"")
    ask.add_argument("--order", help="comma list of metrics or group-bys; prefix - for descending")
    ask.add_argument("--limit", type=int)
    ask.set_defaults(func=cmd_query)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dagster_project.metrics", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    dictionary = commands.add_parser("dictionary", help="write README.md's metric dictionary from the semantic manifest")
    dictionary.add_argument("--check", action="store_true", help="only check: exit 1 when README.md differs")
    dictionary.set_defaults(func=cmd_dictionary)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"metrics: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
