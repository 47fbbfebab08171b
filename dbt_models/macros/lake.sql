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

{#- Each raw stream becomes an external Parquet table over its folder, partitioned by its date as
    the loader writes it. The table keeps its schema in the metastore, so no query infers it from
    the files again, and partitions are read from the folders (the loader swaps the folder whole).
    The pipeline passes each stream's layout (ENGAGEMENT_LAKE_TABLES: `<source>/<stream>` ->
    `<date column>:<fingerprint of its schema>`): a table whose layout and folder are those of the
    last run is left alone, any other is created again. Without it (dbt run by hand) each
    stream is a view over its folder, created every run. -#}
{% macro spark__register_lake_sources() -%}
    {%- if execute %}
        {%- set lake = env_var('ENGAGEMENT_LAKE') %}
        {%- set layouts = fromjson(env_var('ENGAGEMENT_LAKE_TABLES', '{}')) %}
        {%- set sources = graph.sources.values() | sort(attribute='unique_id') | list %}
        {%- set tables = [] %}
        {%- set views = [] %}
        {%- for schema in sources | map(attribute='schema') | unique %}
            {%- do run_query('create database if not exists ' ~ schema) %}
            {%- for row in run_query('show tables in ' ~ schema) %}{% do tables.append(schema ~ '.' ~ row[1]) %}{% endfor %}
            {%- for row in run_query('show views in ' ~ schema) %}{% do views.append(schema ~ '.' ~ row[1]) %}{% endfor %}
        {%- endfor %}
        {%- for source in sources %}
            {%- set stream = source.source_name | replace('raw_', '', 1) ~ '/' ~ source.identifier %}
            {%- set name = source.schema ~ '.' ~ source.identifier %}
            {%- set location = lake ~ '/raw/' ~ stream %}
            {%- set layout = layouts.get(stream) %}
            {%- if layout is none %}
                {%- if name in views or name not in tables %}
                    {%- do run_query('create or replace view ' ~ name ~ ' as select * from parquet.`' ~ location ~ '`') %}
                {%- else %}
                    {%- do run_query('drop table ' ~ name) %}
                    {%- do run_query('create view ' ~ name ~ ' as select * from parquet.`' ~ location ~ '`') %}
                {%- endif %}
            {%- else %}
                {%- set stamp = layout ~ '@' ~ location %}
                {%- set current = name in tables and name not in views
                    and run_query("show tblproperties " ~ name ~ " ('engagement.lake')").columns[1].values()[0] == stamp %}
                {%- if not current %}
                    {%- do run_query(('drop view if exists ' if name in views else 'drop table if exists ') ~ name) %}
                    {#- external (LOCATION): dropping it never deletes the loader's files. Spark infers
                        the schema and the date partition from the folder once; partitions are not
                        tracked in the metastore: they are the folders the loader wrote. -#}
                    {%- do run_query('set spark.sql.hive.manageFilesourcePartitions = false') %}
                    {%- do run_query('create table ' ~ name ~ " using parquet location '" ~ location
                        ~ "' tblproperties ('engagement.lake' = '" ~ stamp ~ "')") %}
                    {%- do run_query('set spark.sql.hive.manageFilesourcePartitions = true') %}
                {%- endif %}
            {%- endif %}
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
