-- Human unique opens and unique clicking subscribers computed from per-recipient activity (read
-- without machine opens) equal Mailchimp's own report summary (its proxy-excluded opens, its
-- clicks) for every send whose activity was read with the report (a send younger than
-- ENGAGEMENT_HORIZON_DAYS when the report was read): activity was loaded whole, nothing doubled.
-- Activity beyond the horizon is not read while the report still is (fct_engagement_reconciliation
-- shows that difference, warn only); more opens than Mailchimp reports is never right, whatever the
-- send's age. All opens (machine opens included) are the report's figure: the mart carries it as
-- read, and never fewer of them than human ones.
{{ config(meta={'dagster': {'ref': {'name': 'fct_email_campaign_engagement'}}}) }}

select e.campaign_id, e.unique_opens, r.unique_opens as report_unique_opens,
    e.human_unique_opens, r.human_unique_opens as report_human_unique_opens,
    e.unique_clicks, r.unique_subscriber_clicks as report_unique_clicks
from {{ ref('fct_email_campaign_engagement') }} as e
inner join {{ ref('stg_mailchimp__reports') }} as r on r.campaign_id = e.campaign_id
where (
        (e.human_unique_opens != r.human_unique_opens or e.unique_clicks != r.unique_subscriber_clicks)
        and (r.observed_at is null
             or cast(r.observed_at as date) <= {{ dbt.dateadd('day', env_var('ENGAGEMENT_HORIZON_DAYS', '30') | int, 'cast(e.send_time as date)') }})
    )
    or e.unique_opens is distinct from r.unique_opens
    or e.human_unique_opens > r.human_unique_opens
    or r.human_unique_opens > r.unique_opens
    or e.unique_clicks > r.unique_subscriber_clicks
