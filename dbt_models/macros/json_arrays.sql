{#- Arrays that arrive inside strings: JSON documents the connectors keep whole (Mailchimp's
    variate_settings, a report's ab_split) and delimited lists (HubSpot's multi-select values).
    Engine-specific SQL sits behind adapter.dispatch, as in engine.sql: DuckDB and Spark. -#}

{#- One row per element of the JSON array at `path` (e.g. '$.combinations') of `json_column`: the
    key columns, `element` (the element's JSON text) and `position` (1-based, in array order). A NULL
    document or a missing array gives no rows. -#}
{% macro json_array_elements(relation, key_columns, json_column, path) -%}
    {{ return(adapter.dispatch('json_array_elements', 'engagement')(relation, key_columns, json_column, path)) }}
{%- endmacro %}

{% macro default__json_array_elements(relation, key_columns, json_column, path) -%}
    {{ exceptions.raise_compiler_error("json_array_elements has no implementation for " ~ target.type) }}
{%- endmacro %}

{% macro duckdb__json_array_elements(relation, key_columns, json_column, path) -%}
    select {{ key_columns | join(', ') }}, element, position
    from (
        select
            {{ key_columns | join(', ') }},
            unnest(json_extract({{ json_column }}, '{{ path }}[*]')) as element,
            generate_subscripts(json_extract({{ json_column }}, '{{ path }}[*]'), 1) as position
        from {{ relation }}
    ) as elements
{%- endmacro %}

{% macro spark__json_array_elements(relation, key_columns, json_column, path) -%}
    {#- from_json with array<string> keeps each object element as its JSON text -#}
    select {{ key_columns | join(', ') }}, element, position + 1 as position
    from {{ relation }}
    lateral view posexplode(from_json(get_json_object({{ json_column }}, '{{ path }}'), 'array<string>')) exploded as position, element
{%- endmacro %}

{#- A scalar of a JSON document as text (numbers as their digits), NULL when absent or null. -#}
{% macro json_text(expression, path) -%}
    {{ return(adapter.dispatch('json_text', 'engagement')(expression, path)) }}
{%- endmacro %}

{% macro default__json_text(expression, path) -%}
    json_extract_string({{ expression }}, '{{ path }}')
{%- endmacro %}

{% macro spark__json_text(expression, path) -%}
    get_json_object({{ expression }}, '{{ path }}')
{%- endmacro %}

{#- A delimited string as a list, for engine.sql's unnest_list. `delimiter` is one literal
    character (Spark's split takes a regular expression; it is quoted here). -#}
{% macro split_list(expression, delimiter) -%}
    {{ return(adapter.dispatch('split_list', 'engagement')(expression, delimiter)) }}
{%- endmacro %}

{% macro default__split_list(expression, delimiter) -%}
    string_split({{ expression }}, '{{ delimiter }}')
{%- endmacro %}

{% macro spark__split_list(expression, delimiter) -%}
    split({{ expression }}, '\\Q{{ delimiter }}\\E')
{%- endmacro %}
