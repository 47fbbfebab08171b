-- The A/B split arms are person-level groups read from each recipient's absplit_group: per test
-- group, the recipients who opened and clicked equal Mailchimp's own ab_split report figures, so
-- the groups and their activity were loaded whole.
{{ config(meta={'dagster': {'ref': {'name': 'fct_experiment_arms'}}}) }}

with

ours as (

    select
        r.campaign_id,
        r.absplit_group,
        count(distinct case when e.action = 'open' then r.email end) as unique_opens,
        count(distinct case when e.action = 'click' then r.email end) as recipient_clicks
    from {{ ref('stg_mailchimp__recipients') }} as r
    left join {{ ref('stg_mailchimp__email_activities') }} as e on e.campaign_id = r.campaign_id and e.email = r.email
    where r.absplit_group in ('a', 'b')
    group by r.campaign_id, r.absplit_group

)

select o.campaign_id, o.absplit_group, o.unique_opens, g.unique_opens as report_unique_opens,
    o.recipient_clicks, g.recipient_clicks as report_recipient_clicks
from ours as o
inner join {{ ref('stg_mailchimp__ab_split_groups') }} as g
    on g.campaign_id = o.campaign_id and g.absplit_group = o.absplit_group
-- the arms of the mart, so the check belongs to it
inner join {{ ref('fct_experiment_arms') }} as a
    on a.experiment_id = 'mailchimp:' || o.campaign_id and a.arm = o.absplit_group
where o.unique_opens != g.unique_opens or o.recipient_clicks != g.recipient_clicks
