-- one row per property-local date x raw session campaign x new/returning, as GA4 reports it
with

source as (

    {{ deduplicate(source('raw_ga4', 'campaign_daily'), ['date', 'campaign', 'new_vs_returning']) }}

),

final as (

    select
        date as report_date,
        {{ local_midnight_utc('date', 'property_time_zone') }} as day_started_at,
        {{ local_midnight_utc(dbt.dateadd('day', 1, 'date'), 'property_time_zone') }} as day_ended_at,
        property_time_zone,
        campaign as session_campaign,
        new_vs_returning,
        sessions,
        engaged_sessions,
        screen_page_views as page_views,
        user_engagement_duration as engagement_seconds,
        active_users,
        coalesce(subject_to_thresholding, false) as is_subject_to_thresholding,
        coalesce(data_loss_from_other_row, false) as has_data_loss_from_other_row
    from source

)

select * from final
