-- one row per person x list x period (calendar week from Monday, calendar month; UTC): how many
-- of the list's sends reached the person and how many they opened, and the cadence tier
with

recipient_sends as (

    select * from {{ ref('int_email__recipient_sends') }} where not bounced and sent_at is not null

),

persons as (

    select * from {{ ref('int_identity__persons') }}

),

person_sends as (

    select
        p.person_id,
        r.list_id,
        r.campaign_id,
        r.sent_at,
        max(case when r.opened then 1 else 0 end) as opened
    from recipient_sends as r
    inner join persons as p on p.identifier = 'email:' || r.email
    group by p.person_id, r.list_id, r.campaign_id, r.sent_at

),

periods as (

    select person_id, list_id, 'week' as period, cast({{ dbt.date_trunc('week', 'sent_at') }} as date) as period_start, campaign_id, opened
    from person_sends
    union all
    select person_id, list_id, 'month' as period, cast({{ dbt.date_trunc('month', 'sent_at') }} as date) as period_start, campaign_id, opened
    from person_sends

),

counted as (

    select
        person_id,
        list_id,
        period,
        period_start,
        count(*) as sends_received,
        cast(sum(opened) as bigint) as sends_opened
    from periods
    group by person_id, list_id, period, period_start

),

final as (

    select
        person_id,
        list_id,
        period,
        period_start,
        sends_received,
        sends_opened,
        {{ safe_ratio('sends_opened', 'sends_received') }} as open_share,
        {{ engagement_tier('sends_opened', 'sends_received') }} as engagement_tier
    from counted

)

select * from final
