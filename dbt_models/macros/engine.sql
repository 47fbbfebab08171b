{#- Engine-specific SQL lives here, behind adapter.dispatch, so models stay portable. -#}

{#- One row per element of a list column: `select key, element, position from ...`. -#}
{% macro unnest_list(relation, key_column, list_column) -%}
    {{ return(adapter.dispatch('unnest_list', 'engagement')(relation, key_column, list_column)) }}
{%- endmacro %}

{% macro default__unnest_list(relation, key_column, list_column) -%}
    select {{ key_column }}, element, position
    from {{ relation }},
        unnest({{ list_column }}) with ordinality as exploded (element, position)
{%- endmacro %}

{% macro duckdb__unnest_list(relation, key_column, list_column) -%}
    select {{ key_column }}, element, position
    from (
        select {{ key_column }}, unnest({{ list_column }}) as element, generate_subscripts({{ list_column }}, 1) as position
        from {{ relation }}
    )
{%- endmacro %}

{% macro spark__unnest_list(relation, key_column, list_column) -%}
    select {{ key_column }}, element, position + 1 as position
    from {{ relation }}
    lateral view posexplode({{ list_column }}) exploded as position, element
{%- endmacro %}

{#- A property-local date's midnight as a UTC timestamp. -#}
{% macro local_midnight_utc(date_column, time_zone_column) -%}
    {{ return(adapter.dispatch('local_midnight_utc', 'engagement')(date_column, time_zone_column)) }}
{%- endmacro %}

{% macro default__local_midnight_utc(date_column, time_zone_column) -%}
    timezone({{ time_zone_column }}, cast({{ date_column }} as timestamp))
{%- endmacro %}

{% macro spark__local_midnight_utc(date_column, time_zone_column) -%}
    to_utc_timestamp(cast({{ date_column }} as timestamp), {{ time_zone_column }})
{%- endmacro %}

{#- Trim all leading and trailing whitespace (tabs and newlines too, not only spaces). -#}
{% macro trim_whitespace(expression) -%}
    {{ return(adapter.dispatch('trim_whitespace', 'engagement')(expression)) }}
{%- endmacro %}

{% macro default__trim_whitespace(expression) -%}
    regexp_replace({{ expression }}, '^\s+|\s+$', '', 'g')
{%- endmacro %}

{% macro spark__trim_whitespace(expression) -%}
    regexp_replace({{ expression }}, '^\\s+|\\s+$', '')
{%- endmacro %}

{#- Remove every leading `characters` (Spark's two-argument ltrim takes them first). -#}
{% macro trim_leading(expression, characters) -%}
    {{ return(adapter.dispatch('trim_leading', 'engagement')(expression, characters)) }}
{%- endmacro %}

{% macro default__trim_leading(expression, characters) -%}
    ltrim({{ expression }}, '{{ characters }}')
{%- endmacro %}

{% macro spark__trim_leading(expression, characters) -%}
    ltrim('{{ characters }}', {{ expression }})
{%- endmacro %}

{#- How an incremental event model replaces the rows a run recomputed: one choice per engine.
    DuckDB (and Postgres, Snowflake ...): delete the recomputed keys, insert the new rows.
    Spark has no delete+insert, and merge needs Delta or Iceberg jars from outside the package
    registry: on plain Parquet, overwrite the partitions the run recomputed (`partition_by`), so
    a run must recompute whole partitions (`rows_loaded_since_last_build` widens its read). -#}
{% macro event_incremental_strategy() -%}
    {{ return(adapter.dispatch('event_incremental_strategy', 'engagement')()) }}
{%- endmacro %}

{% macro default__event_incremental_strategy() -%}
    {{ return('delete+insert') }}
{%- endmacro %}

{% macro spark__event_incremental_strategy() -%}
    {{ return('insert_overwrite') }}
{%- endmacro %}

{#- The partition column of an incremental event model where the strategy overwrites partitions. -#}
{% macro event_partition_by(column) -%}
    {{ return(adapter.dispatch('event_partition_by', 'engagement')(column)) }}
{%- endmacro %}

{% macro default__event_partition_by(column) -%}
    {{ return(none) }}
{%- endmacro %}

{% macro spark__event_partition_by(column) -%}
    {{ return([column]) }}
{%- endmacro %}

{#- The rows of `relation` an incremental build must recompute: those loaded since the last build
    (delete+insert replaces them by key), or on Spark every row of each partition that has one
    (insert_overwrite replaces whole partitions). -#}
{% macro rows_loaded_since_last_build(relation, partition_column) -%}
    {{ return(adapter.dispatch('rows_loaded_since_last_build', 'engagement')(relation, partition_column)) }}
{%- endmacro %}

{% macro default__rows_loaded_since_last_build(relation, partition_column) -%}
    select * from {{ relation }}
    {{ loaded_since_last_build() }}
{%- endmacro %}

{% macro spark__rows_loaded_since_last_build(relation, partition_column) -%}
    select * from {{ relation }}
    {%- if is_incremental() %}
    where {{ partition_column }} in (
        select {{ partition_column }} from {{ relation }}
        {{ loaded_since_last_build() }}
    )
    {%- endif %}
{%- endmacro %}

{#- Rows an incremental model has not seen: loaded after the newest `_loaded_at` it holds.
    Exact because the loader never deletes these raw rows and stamps a changed row with a new
    `_loaded_at`; `dbt build --full-refresh` rebuilds from scratch. For a grouped model pass the
    group's watermark and `having`, e.g. ('max(_loaded_at)', 'having'). -#}
{% macro loaded_since_last_build(expression='_loaded_at', clause='where') -%}
    {%- if is_incremental() %}
    {{ clause }} {{ expression }} > (select max(_loaded_at) from {{ this }})
        or (select max(_loaded_at) from {{ this }}) is null
    {%- endif %}
{%- endmacro %}
