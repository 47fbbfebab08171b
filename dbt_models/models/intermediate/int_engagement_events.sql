-- one row per engagement of an identifier with a campaign on a channel (web, email, social),
-- the one place that decides what counts as engagement (README, "Marts and metric dictionary"):
--   web     a day with an engaged session by a signed-in user (int_web__user_days.is_engaged)
--   email   an action in var('email_engagement_actions') on a send
--   social  a like, repost, reply or mention on X; a reaction or a comment with a known author
--           on Facebook; a reaction or a comment by a member on LinkedIn (X shows at most the 100
--           most recent likers; quotes, shares and LinkedIn reposts carry no account, so they are
--           counted in the social mart but cannot name a person)
with

spellings as (

    select * from {{ ref('int_campaign_spellings') }}

),

persons as (

    select * from {{ ref('int_identity__persons') }}

),

social_posts as (

    select p.*, s.campaign_key
    from {{ ref('int_social__posts') }} as p
    left join spellings as s on s.channel = 'social' and s.spelling = p.utm_campaign

),

x_mentions as (

    select * from {{ ref('stg_x__mentions') }}

),

web as (

    select
        'web' as channel,
        'ga4' as source,
        'engaged_session' as event_type,
        s.campaign_key,
        'site:' || u.site_user_id as identifier,
        u.day_started_at as occurred_at,
        cast(null as string) as item_id
    from {{ ref('int_web__user_days') }} as u
    left join spellings as s on s.channel = 'web' and s.spelling = u.session_campaign
    where u.is_engaged

),

email as (

    select
        'email' as channel,
        'mailchimp' as source,
        a.action as event_type,
        s.campaign_key,
        'email:' || a.email as identifier,
        a.occurred_at,
        a.campaign_id as item_id
    from {{ ref('stg_mailchimp__email_activities') }} as a
    left join {{ ref('stg_mailchimp__campaigns') }} as c on c.campaign_id = a.campaign_id
    left join spellings as s on s.channel = 'email' and s.spelling = c.tracking_utm
    where a.email is not null
        and a.action in ({% for action in var('email_engagement_actions') %}'{{ action }}'{{ ", " if not loop.last }}{% endfor %})

),

social as (

    select 'like' as event_type, l.post_id as item_id, 'x:' || l.user_id as identifier, l.observed_at as occurred_at, 'x' as source
    from {{ ref('stg_x__likes') }} as l
    union all
    select 'repost', r.post_id, 'x:' || r.user_id, r.observed_at, 'x' from {{ ref('stg_x__reposts') }} as r
    union all
    select 'reply', r.post_id, 'x:' || r.author_id, r.created_at, 'x' from {{ ref('int_x__replies') }} as r
    union all
    select 'mention', m.mention_id, 'x:' || m.author_id, m.created_at, 'x'
    from x_mentions as m
    inner join social_posts as p on p.platform = 'x' and p.post_kind = 'mention' and p.post_id = m.mention_id
    union all
    select 'reaction', r.post_id, 'facebook:' || r.user_id, r.observed_at, 'facebook' from {{ ref('stg_facebook__reactions') }} as r
    union all
    select 'comment', c.post_id, 'facebook:' || c.from_id, c.created_at, 'facebook'
    from {{ ref('stg_facebook__comments') }} as c
    where c.from_id is not null
    union all
    select 'reaction', r.post_id, 'linkedin:' || r.actor, r.created_at, 'linkedin'
    from {{ ref('stg_linkedin__reactions') }} as r
    where r.actor like 'urn:li:person:%'  -- an organisation reacting is no person
    union all
    select 'comment', c.post_id, 'linkedin:' || c.actor, c.created_at, 'linkedin'
    from {{ ref('stg_linkedin__comments') }} as c
    where c.actor like 'urn:li:person:%'

),

social_keyed as (

    select
        'social' as channel,
        e.source,
        e.event_type,
        p.campaign_key,
        e.identifier,
        e.occurred_at,
        e.item_id
    from social as e
    left join social_posts as p on p.platform = e.source and p.post_id = e.item_id

),

events as (

    select * from web
    union all
    select * from email
    union all
    select * from social_keyed

),

final as (

    select
        e.channel,
        e.source,
        e.event_type,
        e.campaign_key,
        e.item_id,
        e.identifier,
        p.person_id,
        p.is_crm_linked,
        e.occurred_at
    from events as e
    left join persons as p on p.identifier = e.identifier

)

select * from final
