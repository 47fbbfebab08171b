{#- Spark reads its inputs from, and hands its marts back through, the lake (ENGAGEMENT_LAKE):
    raw Parquet lands in <lake>/raw/<source>/<stream> (one folder per stream, swapped whole by
    the loader); each dbt run starts by pointing the sources at those folders and ends by writing
    the marts (and the engagement events publish reports on) as Parquet under <lake>/exports/,
    which the pipeline reads back into its DuckDB warehouse for the statistics and the snapshot.
    On DuckDB both hooks are empty: the loader writes the sources into the warehouse itself. -#}

{% macro register_lake_sources() -%}
    {{ return(adapter.dispatch('register_lake_sources', 'engagement')()) }}
{%- endmacro %}

{% macro default__register_lake_sources() -%}
{%- endmacro %}

{% macro spark__register_lake_sources() -%}
    {%- if execute %}
        {%- set lake = env_var('ENGAGEMENT_LAKE') %}
        {%- for source in graph.sources.values() | sort(attribute='unique_id') %}
            {%- set stream = source.source_name | replace('raw_', '', 1) ~ '/' ~ source.identifier %}
            {%- do run_query('create database if not exists ' ~ source.schema) %}
            {#- a view, not a table: the loader swaps the folder, and the next run's reads see the new files -#}
            {%- do run_query('create or replace view ' ~ source.schema ~ '.' ~ source.identifier
                ~ ' as select * from parquet.`' ~ lake ~ '/raw/' ~ stream ~ '`') %}
        {%- endfor %}
    {%- endif %}
{%- endmacro %}

{% macro export_marts_to_lake() -%}
    {{ return(adapter.dispatch('export_marts_to_lake', 'engagement')()) }}
{%- endmacro %}

{% macro default__export_marts_to_lake() -%}
{%- endmacro %}

{% macro spark__export_marts_to_lake() -%}
    {%- if execute and flags.WHICH in ('build', 'run') %}
        {%- set lake = env_var('ENGAGEMENT_LAKE') %}
        {%- for node in graph.nodes.values() | sort(attribute='unique_id')
               if node.resource_type == 'model' and (node.schema == 'marts' or node.name == 'int_engagement_events') %}
            {%- set relation = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias) %}
            {%- if relation is not none %}
                {%- do run_query("insert overwrite directory '" ~ lake ~ '/exports/' ~ node.schema ~ '/' ~ node.alias
                    ~ "' using parquet select * from " ~ relation) %}
            {%- endif %}
        {%- endfor %}
    {%- endif %}
{%- endmacro %}
