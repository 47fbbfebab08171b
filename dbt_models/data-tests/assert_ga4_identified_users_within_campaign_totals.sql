-- GA4's identified-user rows are a slice of the same traffic as its campaign-daily report: per
-- date and session campaign, signed-in users' sessions and engaged sessions never exceed the totals.
{{ config(meta={'dagster': {'ref': {'name': 'stg_ga4__user_days'}}}) }}

with

identified as (

    select report_date, session_campaign, sum(sessions) as sessions, sum(engaged_sessions) as engaged_sessions
    from {{ ref('stg_ga4__user_days') }}
    where site_user_id is not null
    group by report_date, session_campaign

),

totals as (

    select report_date, session_campaign, sum(sessions) as sessions, sum(engaged_sessions) as engaged_sessions
    from {{ ref('stg_ga4__campaign_days') }}
    group by report_date, session_campaign

)

select i.report_date, i.session_campaign, i.sessions, t.sessions as total_sessions
from identified as i
left join totals as t on t.report_date = i.report_date and t.session_campaign = i.session_campaign
where t.sessions is null or i.sessions > t.sessions or i.engaged_sessions > t.engaged_sessions
