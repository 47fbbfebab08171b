{#- Cadence tier of a subscriber in one list and period (README, metric dictionary): fully_engaged when the
    opened share of the sends received reaches var('fully_engaged_open_share'), partially_engaged
    with at least one open, dormant otherwise. Compared so that 3 of 4
    at 0.75 is on the boundary. The share is compared as a division (not opened >= share * received):
    both sides are then the nearest double to the same value when they are equal (7/10 vs 0.7),
    whereas 0.7 * 10 is 7.000000000000001. -#}
{% macro engagement_tier(opened, received) -%}
    case
        when {{ received }} > 0
            and cast({{ opened }} as double) / {{ received }} >= {{ var('fully_engaged_open_share') }} then 'fully_engaged'
        when {{ opened }} >= 1 then 'partially_engaged'
        else 'dormant'
    end
{%- endmacro %}
