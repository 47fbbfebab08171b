-- one row per campaign key x channel (web, email, social, and 'any' counting each person once):
-- persons who engaged, and how many of them are linked to a CRM contact
with

events as (

    select * from {{ ref('int_engagement_events') }}
    where campaign_key is not null and person_id is not null

),

per_channel as (

    select
        campaign_key,
        channel,
        count(distinct person_id) as engaged_users,
        count(distinct case when is_crm_linked then person_id end) as identified_users,
        min(occurred_at) as first_engaged_at,
        max(occurred_at) as last_engaged_at
    from events
    group by campaign_key, channel

),

across_channels as (

    select
        campaign_key,
        'any' as channel,
        count(distinct person_id) as engaged_users,
        count(distinct case when is_crm_linked then person_id end) as identified_users,
        min(occurred_at) as first_engaged_at,
        max(occurred_at) as last_engaged_at
    from events
    group by campaign_key

),

final as (

    select * from per_channel
    union all
    select * from across_channels

)

select * from final
