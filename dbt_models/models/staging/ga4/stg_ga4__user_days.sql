-- one row per property-local date x raw session campaign x the site's user id (GA4 custom dimension)
with

source as (

    {{ deduplicate(source('raw_ga4', 'user_daily'), ['date', 'campaign', 'user_id']) }}

),

final as (

    select
        date as report_date,
        {{ local_midnight_utc('date', 'property_time_zone') }} as day_started_at,
        property_time_zone,
        campaign as session_campaign,
        user_id as reported_user_id,
        -- '(not set)' is anonymous traffic and '(other)' GA4's fold of rare rows: neither is a user
        case when trim(user_id) like '(%)' or trim(user_id) = '' then null else trim(user_id) end as site_user_id,
        sessions,
        engaged_sessions,
        screen_page_views as page_views,
        user_engagement_duration as engagement_seconds,
        coalesce(subject_to_thresholding, false) as is_subject_to_thresholding,
        coalesce(data_loss_from_other_row, false) as has_data_loss_from_other_row
    from source

)

select * from final
