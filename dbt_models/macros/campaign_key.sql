{#- A channel's raw campaign spelling -> its normalised form (trim + lower-case), or NULL when it
    names no campaign: empty, or one of GA4's placeholders in parentheses ((direct), (not set), ...).
    The alias seed is applied by int_campaign_spellings, the one place keys are decided. -#}
{% macro normalise_campaign(expression) -%}
    case
        when {{ trim_whitespace(expression) }} = '' then null
        when {{ trim_whitespace(expression) }} like '(%)' then null
        else lower({{ trim_whitespace(expression) }})
    end
{%- endmacro %}

{#- The value of one query parameter of a URL (first occurrence), percent-decoded; NULL if absent. -#}
{% macro url_query_parameter(url, name) -%}
    {{ return(adapter.dispatch('url_query_parameter', 'engagement')(url, name)) }}
{%- endmacro %}

{% macro default__url_query_parameter(url, name) -%}
    nullif(url_decode(regexp_extract({{ url }}, '[?&]{{ name }}=([^&#]*)', 1)), '')
{%- endmacro %}

{% macro spark__url_query_parameter(url, name) -%}
    nullif(url_decode(regexp_extract({{ url }}, '[?&]{{ name }}=([^&#]*)', 1)), '')
{%- endmacro %}
