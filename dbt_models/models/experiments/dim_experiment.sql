-- one row per experiment: what it tests and how it is judged. Discovered experiments (Mailchimp A/B
-- campaigns, holdouts named by the CRM, GA4 web experiments) get a generated hypothesis and null
-- hypothesis; a row of seeds/experiments.csv overrides every field it fills for the experiment it
-- names, and declares an experiment nothing discovered yet.
with

discovered as (

    select * from {{ ref('int_experiment__discovered') }}

),

declared as (

    select * from {{ ref('experiments') }}

),

merged as (

    select
        coalesce(s.experiment_id, d.experiment_id) as experiment_id,
        coalesce(nullif(trim(s.kind), ''), d.kind) as kind,
        d.design,
        coalesce(nullif(lower(trim(s.campaign_key)), ''), d.campaign_key) as campaign_key,
        d.campaign_id,
        nullif(trim(s.hypothesis), '') as declared_hypothesis,
        nullif(trim(s.null_hypothesis), '') as declared_null_hypothesis,
        coalesce(
            nullif(trim(s.primary_metric), ''),
            d.primary_metric,
            case when coalesce(nullif(trim(s.kind), ''), d.kind) = 'email_ab' then 'clicked' else 'web_engaged' end
        ) as primary_metric,
        cast(coalesce(s.alpha, {{ var('experiment_alpha') }}) as double) as alpha,
        coalesce(nullif(trim(s.control_arm), ''), d.control_arm) as control_arm,
        coalesce(nullif(trim(s.planned_split), ''), d.planned_split) as planned_split,
        d.started_at,
        d.ended_at,
        case when s.experiment_id is not null then 'seed' else d.source end as source
    from declared as s
    full outer join discovered as d on d.experiment_id = s.experiment_id

),

described as (

    select
        *,
        case
            when design = 'absplit' then 'Mailchimp A/B split campaign ' || campaign_id
            when design = 'variate' then 'Mailchimp variate campaign ' || campaign_id
            when kind = 'email_ab' then 'Mailchimp A/B campaign ' || {{ dbt.split_part('experiment_id', "':'", 2) }}
            when kind = 'holdout' then 'Campaign ' || coalesce(campaign_key, {{ dbt.split_part('experiment_id', "':'", 2) }})
            else 'Site experiment ' || {{ dbt.split_part('experiment_id', "':'", 2) }}
        end || case when kind = 'email_ab' and campaign_key is not null then ' (' || campaign_key || ')' else '' end
            as subject,
        case
            when kind = 'holdout' then 'the list members it reached'
            when design = 'absplit' then 'recipients of version b'
            when kind = 'email_ab' then 'recipients of the other combinations'
            else 'people shown another variant'
        end as treated_units,
        case
            when kind = 'holdout' then 'the contacts held out of it'
            when design = 'absplit' then 'recipients of version ' || control_arm
            when kind = 'email_ab' then 'recipients of combination ' || control_arm
            else 'people shown variant ' || control_arm
        end as control_units,
        case primary_metric
            when 'opened' then 'open rate'
            when 'clicked' then 'click rate'
            when 'web_engaged' then 'share with an engaged web visit'
            when 'key_event' then 'share with a key event'
            when 'revenue' then 'revenue per person'
            else primary_metric
        end || case
            when primary_metric in ('web_engaged', 'key_event', 'revenue')
                then ' within {{ var("experiment_outcome_window_days") }} days'
            else ''
        end as metric_phrase
    from merged

),

final as (

    select
        experiment_id,
        kind,
        design,
        campaign_key,
        coalesce(
            declared_hypothesis,
            subject || ': ' || treated_units || ' have a different ' || metric_phrase || ' than ' || control_units
        ) as hypothesis,
        coalesce(
            declared_null_hypothesis,
            subject || ': ' || treated_units || ' have the same ' || metric_phrase || ' as ' || control_units
                || '; any difference is chance'
        ) as null_hypothesis,
        primary_metric,
        alpha,
        control_arm,
        planned_split,
        cast({{ var('experiment_min_units_per_arm') }} as integer) as min_units_per_arm,
        cast({{ var('experiment_outcome_window_days') }} as integer) as outcome_window_days,
        started_at,
        ended_at,
        source
    from described

)

select * from final
