-- Unique opens and unique clicking subscribers computed from per-recipient activity equal
-- Mailchimp's own report summary for every send: activity was loaded whole, nothing doubled.
{{ config(meta={'dagster': {'ref': {'name': 'fct_email_campaign_engagement'}}}) }}

select e.campaign_id, e.unique_opens, r.unique_opens as report_unique_opens,
    e.unique_clicks, r.unique_subscriber_clicks as report_unique_clicks
from {{ ref('fct_email_campaign_engagement') }} as e
inner join {{ ref('stg_mailchimp__reports') }} as r on r.campaign_id = e.campaign_id
where e.unique_opens != r.unique_opens or e.unique_clicks != r.unique_subscriber_clicks
