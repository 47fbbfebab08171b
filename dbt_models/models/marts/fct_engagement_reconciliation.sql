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

measures as (

    select 'social' as channel, platform, post_id as item_id, campaign_key, 'likes' as measure,
        platform_likes as platform_value, likes as pipeline_value, snapshot_date as platform_as_of
    from posts
    union all
    select 'social', platform, post_id, campaign_key, 'shares', platform_shares, shares, snapshot_date from posts
    union all
    select 'social', platform, post_id, campaign_key, 'comments', platform_comments, comments, snapshot_date from posts
    union all
    select 'social', platform, post_id, campaign_key, 'reactors', platform_reactors, reactors, snapshot_date
    from posts where platform = 'facebook'
    union all
    select 'email', 'mailchimp', campaign_id, campaign_key, 'unique_opens', platform_opens, opens, send_date from sends
    union all
    select 'email', 'mailchimp', campaign_id, campaign_key, 'human_unique_opens', platform_human_opens, human_opens, send_date
    from sends
    union all
    select 'email', 'mailchimp', campaign_id, campaign_key, 'unique_clicks', platform_clicks, clicks, send_date from sends

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
