{#- Engine-specific SQL of the experiment models, behind adapter.dispatch. -#}

{#- The calendar date of a UTC instant in a time zone (GA4 dates are the property's local dates). -#}
{% macro local_date(timestamp_column, time_zone_column) -%}
    {{ return(adapter.dispatch('local_date', 'engagement')(timestamp_column, time_zone_column)) }}
{%- endmacro %}

{% macro default__local_date(timestamp_column, time_zone_column) -%}
    cast(timezone({{ time_zone_column }}, {{ timestamp_column }}) as date)
{%- endmacro %}

{% macro spark__local_date(timestamp_column, time_zone_column) -%}
    to_date(from_utc_timestamp({{ timestamp_column }}, {{ time_zone_column }}))
{%- endmacro %}
