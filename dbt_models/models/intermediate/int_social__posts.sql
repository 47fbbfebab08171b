-- one row per social post that can carry a campaign: own X posts, X mentions of the account that
-- are not replies in an own post's conversation (those count as comments), own Facebook posts,
-- posts in which the Facebook Page is tagged, own LinkedIn posts and LinkedIn members' posts that
-- mention the organisation (no campaign known for tags and LinkedIn mentions)
with

x_snapshots as (

    select * from {{ ref('stg_x__post_snapshots') }}

),

x_mentions as (

    select * from {{ ref('stg_x__mentions') }}

),

x_replies as (

    select * from {{ ref('int_x__replies') }}

),

x_links as (

    select * from {{ ref('stg_x__links') }}

),

facebook_snapshots as (

    select * from {{ ref('stg_facebook__post_snapshots') }}

),

facebook_tags as (

    select * from {{ ref('stg_facebook__tags') }}

),

linkedin_snapshots as (

    select * from {{ ref('stg_linkedin__post_snapshots') }}

),

linkedin_mentions as (

    select * from {{ ref('stg_linkedin__mentions') }}

),

x_posts as (

    select post_id, min(created_at) as created_at
    from x_snapshots
    group by post_id

),

x_campaign_links as (

    -- the first link of a post that names a campaign
    select x_post_id, post_kind, utm_campaign
    from (
        select
            x_post_id,
            post_kind,
            {{ url_query_parameter('url', 'utm_campaign') }} as utm_campaign,
            row_number() over (
                partition by x_post_id, post_kind
                order by case when {{ url_query_parameter('url', 'utm_campaign') }} is null then 1 else 0 end, position
            ) as link_rank
        from x_links
    ) as ranked
    where link_rank = 1

),

standalone_mentions as (

    -- a mention that is a reply in an own post's conversation is counted as that reply
    select m.mention_id, m.created_at
    from x_mentions as m
    left join x_replies as r on r.reply_id = m.mention_id
    where r.reply_id is null

),

facebook_posts as (

    select post_id, created_at, link
    from (
        select
            post_id,
            created_at,
            link,
            row_number() over (partition by post_id order by snapshot_date desc) as snapshot_rank
        from facebook_snapshots
    ) as ranked
    where snapshot_rank = 1

),

linkedin_posts as (

    {{ deduplicate('linkedin_snapshots', ['post_id'], 'snapshot_date desc') }}

),

final as (

    select
        'x' as platform,
        p.post_id,
        'post' as post_kind,
        p.created_at,
        l.utm_campaign
    from x_posts as p
    left join x_campaign_links as l on l.x_post_id = p.post_id and l.post_kind = 'post'

    union all

    select
        'x' as platform,
        m.mention_id as post_id,
        'mention' as post_kind,
        m.created_at,
        l.utm_campaign
    from standalone_mentions as m
    left join x_campaign_links as l on l.x_post_id = m.mention_id and l.post_kind = 'mention'

    union all

    select
        'facebook' as platform,
        post_id,
        'post' as post_kind,
        created_at,
        {{ url_query_parameter('link', 'utm_campaign') }} as utm_campaign
    from facebook_posts

    union all

    select
        'facebook' as platform,
        mention_id as post_id,
        'mention' as post_kind,
        created_at,
        cast(null as string) as utm_campaign
    from facebook_tags

    union all

    select
        'linkedin' as platform,
        post_id,
        'post' as post_kind,
        created_at,
        {{ url_query_parameter('link', 'utm_campaign') }} as utm_campaign
    from linkedin_posts

    union all

    select
        'linkedin' as platform,
        mentioning_post as post_id,
        'mention' as post_kind,
        created_at,
        cast(null as string) as utm_campaign
    from linkedin_mentions

)

select * from final
