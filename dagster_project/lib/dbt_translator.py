"""How dbt nodes appear in Dagster: grouped by layer, owned by whoever the dbt YAML names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dagster_dbt import DagsterDbtTranslator

LAYERS = ("staging", "intermediate", "marts", "experiments")


class LayeredDbtTranslator(DagsterDbtTranslator):
    """Groups follow the model folders (models/<layer>/...), so the UI's lineage reads staging ->
    intermediate -> marts -> experiments; seeds get their own group. A node's explicit group
    (`meta.dagster.group` or a dbt group) still wins. Owners come from `meta.owner` (an email or
    `team:<name>`), set per folder in dbt_project.yml."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        explicit = super().get_group_name(dbt_resource_props)
        if explicit:
            return explicit
        if dbt_resource_props.get("resource_type") == "seed":
            return "seeds"
        fqn = dbt_resource_props.get("fqn") or []
        return fqn[1] if len(fqn) > 2 and fqn[1] in LAYERS else None

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> Sequence[str] | None:
        meta = {**(dbt_resource_props.get("meta") or {}), **(dbt_resource_props.get("config", {}).get("meta") or {})}
        owner = meta.get("owner")
        if owner:
            return [owner] if isinstance(owner, str) else list(owner)
        return super().get_owners(dbt_resource_props)
