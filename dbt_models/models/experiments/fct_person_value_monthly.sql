-- one row per person x calendar month (GA4's property-local dates) in which GA4 reported value for one
-- of the person's site user ids: key events, transactions and purchase revenue, the inputs of
-- lifetime value. first_seen_month is the month the person was first seen anywhere (any source, CRM
-- creation included), for cohorts.
with

value_days as (

    select * from {{ ref('stg_ga4__user_value_days') }} where user_id is not null

),

persons as (

    select * from {{ ref('int_identity__persons') }}

),

people as (

    select * from {{ ref('dim_person') }}

),

monthly as (

    select
        p.person_id,
        cast({{ dbt.date_trunc('month', 'v.activity_date') }} as date) as month,
        sum(v.key_events) as key_events,
        sum(v.transactions) as transactions,
        -- decimals add up exactly, whatever the order of the rows
        cast(sum(cast(v.purchase_revenue as decimal(18, 6))) as double) as revenue
    from value_days as v
    inner join persons as p on p.identifier = 'site:' || v.user_id
    group by p.person_id, cast({{ dbt.date_trunc('month', 'v.activity_date') }} as date)

),

first_months as (

    select
        m.person_id,
        min(m.month) as first_value_month,
        min(cast({{ dbt.date_trunc('month', 'd.first_seen_at') }} as date)) as first_seen_month
    from monthly as m
    left join people as d on d.person_id = m.person_id
    group by m.person_id

),

final as (

    select
        m.person_id,
        m.month,
        cast(m.key_events as bigint) as key_events,
        cast(m.transactions as bigint) as transactions,
        m.revenue,
        case
            when f.first_seen_month is null or f.first_value_month < f.first_seen_month then f.first_value_month
            else f.first_seen_month
        end as first_seen_month
    from monthly as m
    inner join first_months as f on f.person_id = m.person_id

)

select * from final
