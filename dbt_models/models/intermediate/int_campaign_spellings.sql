-- one row per channel x raw campaign spelling, with the campaign key it means: trim + lower-case,
-- then the alias seed; GA4's placeholders ((direct), (not set), ...) and blanks mean no campaign
with

web as (

    select session_campaign as spelling from {{ ref('stg_ga4__campaign_days') }}
    union
    select session_campaign as spelling from {{ ref('stg_ga4__user_days') }}

),

email as (

    select tracking_utm as spelling from {{ ref('stg_mailchimp__campaigns') }}

),

social as (

    select utm_campaign as spelling from {{ ref('int_social__posts') }}

),

aliases as (

    select lower(trim(alias)) as alias, lower(trim(campaign_key)) as campaign_key
    from {{ ref('campaign_aliases') }}

),

spellings as (

    select distinct 'web' as channel, spelling from web where spelling is not null
    union all
    select distinct 'email' as channel, spelling from email where spelling is not null
    union all
    select distinct 'social' as channel, spelling from social where spelling is not null

),

normalised as (

    select
        channel,
        spelling,
        {{ normalise_campaign('spelling') }} as normalised_spelling
    from spellings

),

final as (

    select
        n.channel,
        n.spelling,
        n.normalised_spelling,
        coalesce(a.campaign_key, n.normalised_spelling) as campaign_key,
        a.alias is not null as is_alias
    from normalised as n
    left join aliases as a on a.alias = n.normalised_spelling

)

select * from final
