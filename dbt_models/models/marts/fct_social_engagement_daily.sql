-- one row per day x platform x post: own posts (X, Facebook, LinkedIn) and posts by others that
-- mention the account (X mentions, posts tagging the Facebook Page, LinkedIn mentions). Counters come from daily snapshot deltas; comments/replies and mentions are
-- dated by their own creation time. A figure the platform does not provide is NULL.
with

posts as (

    select p.*, s.campaign_key
    from {{ ref('int_social__posts') }} as p
    left join {{ ref('int_campaign_spellings') }} as s on s.channel = 'social' and s.spelling = p.utm_campaign

),

deltas as (

    select * from {{ ref('int_social__counter_deltas') }}

),

comments as (

    select 'x' as platform, post_id, cast(created_at as date) as activity_date, count(*) as comments
    from {{ ref('int_x__replies') }}
    group by post_id, cast(created_at as date)
    union all
    select 'facebook' as platform, post_id, cast(created_at as date) as activity_date, count(*) as comments
    from {{ ref('stg_facebook__comments') }}
    group by post_id, cast(created_at as date)
    union all
    select 'linkedin' as platform, post_id, cast(created_at as date) as activity_date, count(*) as comments
    from {{ ref('stg_linkedin__comments') }}
    group by post_id, cast(created_at as date)

),

mentions as (

    select platform, post_id, cast(created_at as date) as activity_date, count(*) as mentions
    from posts
    where post_kind = 'mention'
    group by platform, post_id, cast(created_at as date)

),

post_days as (

    select platform, post_id, activity_date from deltas
    union
    select platform, post_id, activity_date from comments
    union
    select platform, post_id, activity_date from mentions

),

joined as (

    select
        d.activity_date,
        d.platform,
        d.post_id,
        p.post_kind,
        p.campaign_key,
        case when p.post_kind = 'post' then coalesce(delta.likes, 0) end as likes,
        case when p.post_kind = 'post' then coalesce(c.comments, 0) end as comments,
        case when p.post_kind = 'post' then coalesce(delta.shares, 0) end as shares,
        -- every platform reports mentions of the account (Facebook's are the posts tagging the Page)
        coalesce(m.mentions, 0) as mentions,
        case when p.post_kind = 'post' then delta.impressions end as impressions,
        coalesce(delta.counter_decreased, false) as counter_decreased
    from post_days as d
    inner join posts as p on p.platform = d.platform and p.post_id = d.post_id
    left join deltas as delta
        on delta.platform = d.platform and delta.post_id = d.post_id and delta.activity_date = d.activity_date
    left join comments as c on c.platform = d.platform and c.post_id = d.post_id and c.activity_date = d.activity_date
    left join mentions as m on m.platform = d.platform and m.post_id = d.post_id and m.activity_date = d.activity_date

),

final as (

    select
        activity_date as date,
        platform,
        post_id,
        post_kind,
        campaign_key,
        likes,
        comments,
        shares,
        mentions,
        coalesce(likes, 0) + coalesce(comments, 0) + coalesce(shares, 0) + coalesce(mentions, 0) as total_interactions,
        impressions,
        {{ safe_ratio('coalesce(likes, 0) + coalesce(comments, 0) + coalesce(shares, 0) + coalesce(mentions, 0)', 'impressions') }}
            as interaction_rate,
        counter_decreased
    from joined

)

select * from final
