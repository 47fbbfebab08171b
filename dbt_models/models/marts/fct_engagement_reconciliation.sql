-- One row per post or send x measure: the platform's own latest lifetime figure beside what the
-- marts hold for it. Daily runs re-read interactions only within the engagement horizon, so a
-- difference here is engagement the pipeline did not (or could not) read: late comments and
-- reactors on posts older than the horizon, likers beyond X's 100, data lost on the way (X, Facebook
-- and LinkedIn posts; Mailchimp sends). It is
-- reported (a warn-severity test and the publish metadata), never silently dropped.
with

latest_x as (

    select post_id, snapshot_date, like_count, repost_count + quote_count as shares, reply_count
    from ({{ deduplicate(ref('stg_x__post_snapshots'), ['post_id'], 'snapshot_date desc') }}) as newest

),

latest_facebook as (

    select post_id, snapshot_date, reaction_count, share_count, comment_count
    from ({{ deduplicate(ref('stg_facebook__post_snapshots'), ['post_id'], 'snapshot_date desc') }}) as newest

),

latest_linkedin as (

    select post_id, snapshot_date, reaction_count, share_count, comment_count
    from ({{ deduplicate(ref('stg_linkedin__post_snapshots'), ['post_id'], 'snapshot_date desc') }}) as newest

),

marts_by_post as (

    select platform, post_id, max(campaign_key) as campaign_key,
        sum(likes) as likes, sum(shares) as shares, sum(comments) as comments
    from {{ ref('fct_social_engagement_daily') }}
    where post_kind = 'post'
    group by platform, post_id

),

facebook_reactors as (

    select post_id, count(*) as reactors
    from {{ ref('stg_facebook__reactions') }}
    group by post_id

),

posts as (

    select 'x' as platform, x.post_id, m.campaign_key, x.snapshot_date,
        x.like_count as platform_likes, x.shares as platform_shares, x.reply_count as platform_comments,
        cast(null as bigint) as platform_reactors,
        coalesce(m.likes, 0) as likes, coalesce(m.shares, 0) as shares, coalesce(m.comments, 0) as comments,
        cast(null as bigint) as reactors
    from latest_x as x
    left join marts_by_post as m on m.platform = 'x' and m.post_id = x.post_id

    union all

    select 'facebook', f.post_id, m.campaign_key, f.snapshot_date,
        f.reaction_count, f.share_count, f.comment_count, f.reaction_count,
        coalesce(m.likes, 0), coalesce(m.shares, 0), coalesce(m.comments, 0), coalesce(r.reactors, 0)
    from latest_facebook as f
    left join marts_by_post as m on m.platform = 'facebook' and m.post_id = f.post_id
    left join facebook_reactors as r on r.post_id = f.post_id

    union all

    -- reactions (socialMetadata, all types) and reposts (share statistics) are counters; comments
    -- are read one by one, so replies LinkedIn counts but the comments read lacks show up here
    select 'linkedin', l.post_id, m.campaign_key, l.snapshot_date,
        l.reaction_count, l.share_count, l.comment_count, cast(null as bigint),
        coalesce(m.likes, 0), coalesce(m.shares, 0), coalesce(m.comments, 0), cast(null as bigint)
    from latest_linkedin as l
    left join marts_by_post as m on m.platform = 'linkedin' and m.post_id = l.post_id

),

sends as (

    select e.campaign_id, e.campaign_key, cast(e.send_time as date) as send_date,
        r.unique_opens as platform_opens, e.unique_opens as opens,
        r.human_unique_opens as platform_human_opens, e.human_unique_opens as human_opens,
        r.unique_subscriber_clicks as platform_clicks, e.unique_clicks as clicks
    from {{ ref('fct_email_campaign_engagement') }} as e
    inner join {{ ref('stg_mailchimp__reports') }} as r on r.campaign_id = e.campaign_id

),

post_measures as (

    select 'likes' as measure, false as facebook_only
    union all select 'shares', false
    union all select 'comments', false
    union all select 'reactors', true

),

send_measures as (

    select 'unique_opens' as measure
    union all select 'human_unique_opens'
    union all select 'unique_clicks'

),

measures as (

    -- posts and sends are each read once: Spark recomputes a CTE at every reference
    select 'social' as channel, p.platform, p.post_id as item_id, p.campaign_key, m.measure,
        case m.measure
            when 'likes' then p.platform_likes
            when 'shares' then p.platform_shares
            when 'comments' then p.platform_comments
            else p.platform_reactors
        end as platform_value,
        case m.measure
            when 'likes' then p.likes
            when 'shares' then p.shares
            when 'comments' then p.comments
            else p.reactors
        end as pipeline_value,
        p.snapshot_date as platform_as_of
    from posts as p
    cross join post_measures as m
    where p.platform = 'facebook' or not m.facebook_only
    union all
    select 'email', 'mailchimp', s.campaign_id, s.campaign_key, m.measure,
        case m.measure
            when 'unique_opens' then s.platform_opens
            when 'human_unique_opens' then s.platform_human_opens
            else s.platform_clicks
        end,
        case m.measure
            when 'unique_opens' then s.opens
            when 'human_unique_opens' then s.human_opens
            else s.clicks
        end,
        s.send_date
    from sends as s
    cross join send_measures as m

),

final as (

    select
        channel,
        platform,
        item_id,
        campaign_key,
        measure,
        cast(platform_value as bigint) as platform_value,
        cast(pipeline_value as bigint) as pipeline_value,
        cast(platform_value - pipeline_value as bigint) as difference,
        platform_as_of
    from measures

)

select * from final
