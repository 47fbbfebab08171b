{#- Keep one row per natural key: the most recently loaded copy. The loader already merges on
    these keys; staging states the grain again so every model downstream can rely on it. -#}
{% macro deduplicate(relation, key_columns, order_by='_loaded_at desc') -%}
    select *
    from (
        select
            *,
            row_number() over (partition by {{ key_columns | join(', ') }} order by {{ order_by }}) as _row_number
        from {{ relation }}
    ) as ranked
    where _row_number = 1
{%- endmacro %}

{#- Trim + lower-case; an empty string is no value. -#}
{% macro normalise_email(expression) -%}
    nullif(lower({{ trim_whitespace(expression) }}), '')
{%- endmacro %}

{#- X handles: trim, one leading @ removed, lower-case. -#}
{% macro normalise_handle(expression) -%}
    nullif(lower({{ trim_leading(trim_whitespace(expression), '@') }}), '')
{%- endmacro %}

{#- a / b, NULL when b is 0 or NULL: a rate with no denominator is unknown, not 0. Never rounded. -#}
{% macro safe_ratio(numerator, denominator) -%}
    cast({{ numerator }} as double) / nullif({{ denominator }}, 0)
{%- endmacro %}
