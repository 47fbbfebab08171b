-- one row per experiment found in the data, before seeds/experiments.csv overrides anything:
--   mailchimp:<campaign id>   every Mailchimp A/B campaign: an A/B split (arms a / b, control a) or a
--                             variate campaign (arms its combinations, control the first)
--   holdout:<campaign key>    every campaign key the CRM holdout property names that has a send
--                             (`all`, the universal holdout, names no campaign of its own)
--   ga4:<experiment id>       every experiment of GA4's experience_impression events by identified users
-- Dates are GA4's: the property's local dates, which the outcome windows count in.
with

experiment_campaigns as (

    select * from {{ ref('stg_mailchimp__experiment_campaigns') }} where send_time is not null

),

combinations as (

    select * from {{ ref('stg_mailchimp__variate_combinations') }}

),

spellings as (

    select * from {{ ref('int_campaign_spellings') }} where channel = 'email'

),

campaigns as (

    select * from {{ ref('stg_mailchimp__campaigns') }} where sent_at is not null

),

holdout_keys as (

    select distinct holdout_key as campaign_key
    from {{ ref('stg_hubspot__holdouts') }}
    where holdout_key != 'all'

),

impressions as (

    select * from {{ ref('stg_ga4__user_experiences') }} where user_id is not null

),

property as (

    -- one row even without GA4 data: dates are then UTC dates
    select coalesce(max(property_time_zone), 'UTC') as time_zone from {{ ref('stg_ga4__campaign_days') }}

),

variate_splits as (

    -- a variate test splits its test recipients evenly between the combinations
    select
        campaign_id,
        '{' || {{ dbt.listagg("'\"' || combination_id || '\":' || cast(share as string)", "','", 'order by combination_position') }} || '}' as planned_split
    from (
        select
            campaign_id,
            combination_id,
            combination_position,
            cast(1 as double) / count(*) over (partition by campaign_id) as share
        from combinations
    ) as shares
    group by campaign_id

),

email_ab as (

    select
        'mailchimp:' || c.campaign_id as experiment_id,
        'email_ab' as kind,
        c.campaign_type as design,
        s.campaign_key,
        c.campaign_id,
        case when c.campaign_type = 'absplit' then 'a' else first_combination.combination_id end as control_arm,
        case when c.campaign_type = 'absplit' then '{"a":0.5,"b":0.5}' else v.planned_split end as planned_split,
        'clicked' as primary_metric,
        'mailchimp' as source,
        c.send_time as started_at,
        {{ local_date('c.send_time', 'p.time_zone') }} as first_exposure_date,
        {{ local_date('c.send_time', 'p.time_zone') }} as last_exposure_date,
        p.time_zone
    from experiment_campaigns as c
    cross join property as p
    left join spellings as s on s.spelling = c.tracking_utm
    left join combinations as first_combination
        on first_combination.campaign_id = c.campaign_id and first_combination.combination_position = 1
    left join variate_splits as v on v.campaign_id = c.campaign_id
    where c.campaign_type in ('absplit', 'variate')

),

keyed_sends as (

    select
        c.campaign_id,
        s.campaign_key,
        c.sent_at,
        row_number() over (partition by s.campaign_key order by c.sent_at, c.campaign_id) as send_rank
    from campaigns as c
    inner join spellings as s on s.spelling = c.tracking_utm
    where s.campaign_key is not null

),

holdouts as (

    select
        'holdout:' || k.campaign_key as experiment_id,
        'holdout' as kind,
        'holdout' as design,
        k.campaign_key,
        f.campaign_id,
        'holdout' as control_arm,
        cast(null as string) as planned_split,
        'web_engaged' as primary_metric,
        'hubspot' as source,
        f.sent_at as started_at,
        {{ local_date('f.sent_at', 'p.time_zone') }} as first_exposure_date,
        {{ local_date('f.sent_at', 'p.time_zone') }} as last_exposure_date,
        p.time_zone
    from holdout_keys as k
    inner join keyed_sends as f on f.campaign_key = k.campaign_key and f.send_rank = 1
    cross join property as p

),

web_experiments as (

    select
        'ga4:' || i.experiment_id as experiment_id,
        'web_experience' as kind,
        'web_experience' as design,
        cast(null as string) as campaign_key,
        cast(null as string) as campaign_id,
        min(i.variant_id) as control_arm,
        cast(null as string) as planned_split,
        'web_engaged' as primary_metric,
        'ga4' as source,
        {{ local_midnight_utc('min(i.activity_date)', 'min(p.time_zone)') }} as started_at,
        min(i.activity_date) as first_exposure_date,
        max(i.activity_date) as last_exposure_date,
        min(p.time_zone) as time_zone
    from impressions as i
    cross join property as p
    group by i.experiment_id

),

found as (

    select * from email_ab
    union all
    select * from holdouts
    union all
    select * from web_experiments

),

final as (

    select
        experiment_id,
        kind,
        design,
        campaign_key,
        campaign_id,
        control_arm,
        planned_split,
        primary_metric,
        source,
        -- the first send; for a web experiment the start of its first day
        started_at,
        -- when the last exposure's outcome window closes
        {{ local_midnight_utc(dbt.dateadd('day', var('experiment_outcome_window_days'), 'last_exposure_date'), 'time_zone') }} as ended_at,
        first_exposure_date,
        last_exposure_date
    from found

)

select * from final
