-- one row per own post x day its lifetime counters moved: the day's snapshot minus the previous
-- snapshot. Likes, reactions, reposts, quotes and shares carry no timestamp in these APIs, so
-- day-over-day differences are the only daily figure there is. Explicit rules:
--   first snapshot   its counts are everything since publication: dated to the post's creation
--                    day (UTC), where nearly all of it happened, not to the day we first looked
--   unchanged day    a delta of 0
--   counter went down (an unlike, a deleted share) a negative delta, kept: the deltas of a post
--                    always add up to its latest lifetime count, so sums over any range are right
--   gap in snapshots the change since the last snapshot lands on the day of the next one
--   impressions      NULL where either snapshot lacks them (a retired insight metric): unknown
with

x_counters as (

    select
        'x' as platform,
        post_id,
        snapshot_date,
        created_at,
        like_count as likes,
        repost_count + quote_count as shares,
        impression_count as impressions
    from {{ ref('stg_x__post_snapshots') }}

),

facebook_impressions as (

    select post_id, snapshot_date, value as impressions
    from {{ ref('stg_facebook__post_insights') }}
    where metric = 'post_media_view'

),

facebook_counters as (

    select
        'facebook' as platform,
        s.post_id,
        s.snapshot_date,
        s.created_at,
        s.reaction_count as likes,
        s.share_count as shares,
        i.impressions
    from {{ ref('stg_facebook__post_snapshots') }} as s
    left join facebook_impressions as i on i.post_id = s.post_id and i.snapshot_date = s.snapshot_date

),

linkedin_counters as (

    select
        'linkedin' as platform,
        post_id,
        snapshot_date,
        created_at,
        reaction_count as likes,
        share_count as shares,
        impression_count as impressions
    from {{ ref('stg_linkedin__post_snapshots') }}

),

counters as (

    select * from x_counters
    union all
    select * from facebook_counters
    union all
    select * from linkedin_counters

),

with_previous as (

    select
        *,
        row_number() over (partition by platform, post_id order by snapshot_date) as snapshot_number,
        lag(likes) over (partition by platform, post_id order by snapshot_date) as previous_likes,
        lag(shares) over (partition by platform, post_id order by snapshot_date) as previous_shares,
        lag(impressions) over (partition by platform, post_id order by snapshot_date) as previous_impressions
    from counters

),

final as (

    select
        platform,
        post_id,
        case when snapshot_number = 1 then cast(created_at as date) else snapshot_date end as activity_date,
        snapshot_date,
        snapshot_number = 1 as is_first_snapshot,
        likes - coalesce(previous_likes, 0) as likes,
        shares - coalesce(previous_shares, 0) as shares,
        case when snapshot_number = 1 then impressions else impressions - previous_impressions end as impressions,
        likes < previous_likes or shares < previous_shares or impressions < previous_impressions as counter_decreased
    from with_previous

)

select * from final
