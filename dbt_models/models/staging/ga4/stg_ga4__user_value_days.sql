-- one row per property-local date x identified user (the site's user id): key events, transactions and
-- purchase revenue. Anonymous traffic ('(not set)') and GA4's '(other)' fold are no user: left out here.
with

source as (

    {{ deduplicate(source('raw_ga4', 'user_value_days'), ['date', 'user_id']) }}

),

identified as (

    select
        *,
        case when trim(user_id) like '(%)' or trim(user_id) = '' then null else trim(user_id) end as site_user_id
    from source

),

final as (

    select
        date as activity_date,
        site_user_id as user_id,
        key_events,
        transactions,
        cast(purchase_revenue as double) as purchase_revenue
    from identified
    where site_user_id is not null

)

select * from final
