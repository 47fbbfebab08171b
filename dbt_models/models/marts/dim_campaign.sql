-- one row per campaign key seen on any channel (GA4's placeholders are no campaign)
with

spellings as (

    select * from {{ ref('int_campaign_spellings') }} where campaign_key is not null

),

web as (

    select s.campaign_key, 'web' as channel, min(d.day_started_at) as first_seen_at, max(d.day_started_at) as last_seen_at
    from {{ ref('stg_ga4__campaign_days') }} as d
    inner join spellings as s on s.channel = 'web' and s.spelling = d.session_campaign
    group by s.campaign_key

),

email as (

    select s.campaign_key, 'email' as channel, min(c.sent_at) as first_seen_at, max(c.sent_at) as last_seen_at
    from {{ ref('stg_mailchimp__campaigns') }} as c
    inner join spellings as s on s.channel = 'email' and s.spelling = c.tracking_utm
    where c.sent_at is not null
    group by s.campaign_key

),

social as (

    select s.campaign_key, 'social' as channel, min(p.created_at) as first_seen_at, max(p.created_at) as last_seen_at
    from {{ ref('int_social__posts') }} as p
    inner join spellings as s on s.channel = 'social' and s.spelling = p.utm_campaign
    group by s.campaign_key

),

seen as (

    select * from web
    union all
    select * from email
    union all
    select * from social

),

email_names as (

    -- the subject line of the campaign's first send names it best; the key otherwise
    select campaign_key, subject_line
    from (
        select
            s.campaign_key,
            c.subject_line,
            row_number() over (partition by s.campaign_key order by c.sent_at, c.campaign_id) as send_number
        from {{ ref('stg_mailchimp__campaigns') }} as c
        inner join spellings as s on s.channel = 'email' and s.spelling = c.tracking_utm
        where c.sent_at is not null
    ) as ranked
    where send_number = 1

),

final as (

    select
        seen.campaign_key,
        coalesce(max(n.subject_line), seen.campaign_key) as campaign_name,
        {{ dbt.listagg('seen.channel', "','", 'order by seen.channel') }} as channels,
        min(seen.first_seen_at) as first_seen_at,
        max(seen.last_seen_at) as last_seen_at
    from seen
    left join email_names as n on n.campaign_key = seen.campaign_key
    group by seen.campaign_key

)

select * from final
