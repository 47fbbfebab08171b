-- one row per test group (a, b) of an A/B split campaign: Mailchimp's own per-group report figures,
-- for reconciling the per-recipient counts (the winner group is only in the campaign's totals)
with

source as (

    {{ deduplicate(source('raw_mailchimp', 'reports'), ['campaign_id']) }}

),

reports as (

    select campaign_id, ab_split from source
    where ab_split is not null

),

groups as (

    {% for group in ['a', 'b'] %}
    select
        campaign_id,
        '{{ group }}' as absplit_group,
        {% for field in ['unique_opens', 'opens', 'recipient_clicks', 'bounces', 'unsubs'] -%}
        {{ dbt.safe_cast(json_text('ab_split', '$.' ~ group ~ '.' ~ field), api.Column.translate_type('integer')) }} as {{ field }}
        {%- if not loop.last %},{% endif %}
        {% endfor %}
    from reports
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select * from groups

)

select * from final
