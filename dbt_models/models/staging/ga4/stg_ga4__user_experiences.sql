-- one row per property-local date x identified user x experiment variant seen (GA4's experiment
-- integration: `experience_impression` events whose exp_variant_string is '<experiment id>-<variant id>',
-- the experiment id itself '<tool>-<experience>'; split at the last '-'). A value without a '-' names
-- no variant: the whole value is the experiment id and variant_id is NULL. Anonymous traffic is no user.
with

source as (

    {{ deduplicate(source('raw_ga4', 'user_experiences'), ['date', 'user_id', 'exp_variant_string']) }}

),

identified as (

    select
        *,
        case when trim(user_id) like '(%)' or trim(user_id) = '' then null else trim(user_id) end as site_user_id
    from source

),

final as (

    select
        date as activity_date,
        site_user_id as user_id,
        coalesce(nullif(regexp_extract(exp_variant_string, '^(.+)-[^-]+$', 1), ''), exp_variant_string) as experiment_id,
        nullif(regexp_extract(exp_variant_string, '^.+-([^-]+)$', 1), '') as variant_id,
        impressions
    from identified
    where site_user_id is not null

)

select * from final
