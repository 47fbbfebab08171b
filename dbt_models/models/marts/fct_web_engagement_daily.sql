-- one row per property-local date x campaign key; traffic without a campaign is '(none)'
with

campaign_days as (

    select * from {{ ref('stg_ga4__campaign_days') }}

),

spellings as (

    select * from {{ ref('int_campaign_spellings') }} where channel = 'web'

),

final as (

    select
        d.report_date as date,
        coalesce(s.campaign_key, '(none)') as campaign_key,
        min(d.day_started_at) as day_started_at,
        min(d.property_time_zone) as property_time_zone,
        cast(sum(d.sessions) as bigint) as sessions,
        cast(sum(d.engaged_sessions) as bigint) as engaged_sessions,
        {{ safe_ratio('sum(d.engaged_sessions)', 'sum(d.sessions)') }} as engagement_rate,
        cast(sum(d.page_views) as bigint) as page_views,
        {{ safe_ratio('sum(d.page_views)', 'sum(d.sessions)') }} as pages_per_session,
        cast(sum(d.engagement_seconds) as double) as engagement_seconds,
        {{ safe_ratio('sum(d.engagement_seconds)', 'sum(d.page_views)') }} as avg_time_on_page_seconds,
        -- GA4 counts a user active as both new and returning in both rows: users can exceed the day's distinct users
        cast(sum(d.active_users) as bigint) as users,
        cast(sum(case when d.new_vs_returning = 'returning' then d.active_users else 0 end) as bigint) as returning_users,
        {{ safe_ratio("sum(case when d.new_vs_returning = 'returning' then d.active_users else 0 end)", 'sum(d.active_users)') }}
            as returning_visitor_rate,
        max(case when d.is_subject_to_thresholding then 1 else 0 end) = 1 as is_subject_to_thresholding,
        max(case when d.has_data_loss_from_other_row then 1 else 0 end) = 1 as has_data_loss_from_other_row
    from campaign_days as d
    left join spellings as s on s.spelling = d.session_campaign
    group by d.report_date, coalesce(s.campaign_key, '(none)')

)

select * from final
