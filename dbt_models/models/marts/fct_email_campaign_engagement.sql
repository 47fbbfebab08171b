-- one row per Mailchimp send (campaign), figures computed from per-recipient activity, which is read
-- without machine opens (Apple Mail proxies, bots); all opens, machine ones included, only the report gives
with

campaigns as (

    select * from {{ ref('stg_mailchimp__campaigns') }} where sent_at is not null

),

reports as (

    select * from {{ ref('stg_mailchimp__reports') }}

),

spellings as (

    select * from {{ ref('int_campaign_spellings') }} where channel = 'email'

),

per_send as (

    select
        campaign_id,
        count(*) as recipients,
        cast(sum(case when bounced then 1 else 0 end) as bigint) as bounces,
        cast(sum(case when opened then 1 else 0 end) as bigint) as human_unique_opens,
        cast(sum(case when clicked then 1 else 0 end) as bigint) as unique_clicks
    from {{ ref('int_email__recipient_sends') }}
    group by campaign_id

),

counted as (

    select
        c.campaign_id,
        s.campaign_key,
        c.list_id,
        c.title as campaign_title,
        c.campaign_type,
        c.sent_at as send_time,
        coalesce(p.recipients, 0) as recipients,
        coalesce(p.bounces, 0) as bounces,
        r.unique_opens,
        coalesce(p.human_unique_opens, 0) as human_unique_opens,
        coalesce(p.unique_clicks, 0) as unique_clicks,
        r.unsubscribes
    from campaigns as c
    left join spellings as s on s.spelling = c.tracking_utm
    left join per_send as p on p.campaign_id = c.campaign_id
    left join reports as r on r.campaign_id = c.campaign_id

),

final as (

    select
        campaign_id,
        campaign_key,
        list_id,
        campaign_title,
        campaign_type,
        send_time,
        recipients,
        recipients - bounces as delivered,
        unique_opens,
        unique_clicks,
        {{ safe_ratio('unique_opens', 'recipients - bounces') }} as open_rate,
        {{ safe_ratio('unique_clicks', 'recipients - bounces') }} as click_rate,
        {{ safe_ratio('unique_clicks', 'unique_opens') }} as click_to_open_rate,
        human_unique_opens,
        {{ safe_ratio('human_unique_opens', 'recipients - bounces') }} as human_open_rate,
        {{ safe_ratio('unique_clicks', 'human_unique_opens') }} as human_click_to_open_rate,
        bounces,
        unsubscribes
    from counted

)

select * from final
