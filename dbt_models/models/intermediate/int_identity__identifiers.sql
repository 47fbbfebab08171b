-- one row per source x identifier it holds, with when that source first showed it.
-- An identifier is '<kind>:<value>' with kind email, site (the site's user id), crm (HubSpot
-- contact id), x (X user id), facebook (Facebook user id) or linkedin (member URN); values are
-- already normalised. No CRM property holds a LinkedIn member URN, so those link to nothing.
with

sightings as (

    select 'ga4' as source, 'site:' || site_user_id as identifier, day_started_at as seen_at
    from {{ ref('stg_ga4__user_days') }}
    where site_user_id is not null

    union all
    select 'mailchimp', 'email:' || email, occurred_at from {{ ref('stg_mailchimp__email_activities') }} where email is not null
    union all
    select 'mailchimp', 'email:' || r.email, c.sent_at
    from {{ ref('stg_mailchimp__recipients') }} as r
    left join {{ ref('stg_mailchimp__campaigns') }} as c on c.campaign_id = r.campaign_id
    where r.email is not null
    union all
    select 'mailchimp', 'email:' || email, opted_in_at from {{ ref('stg_mailchimp__list_members') }} where email is not null

    union all
    select 'x', 'x:' || user_id, observed_at from {{ ref('stg_x__likes') }}
    union all
    select 'x', 'x:' || user_id, observed_at from {{ ref('stg_x__reposts') }}
    union all
    select 'x', 'x:' || author_id, created_at from {{ ref('stg_x__replies') }}
    union all
    select 'x', 'x:' || author_id, created_at from {{ ref('stg_x__mentions') }}

    union all
    select 'facebook', 'facebook:' || user_id, observed_at from {{ ref('stg_facebook__reactions') }}
    union all
    select 'facebook', 'facebook:' || from_id, created_at from {{ ref('stg_facebook__comments') }} where from_id is not null

    union all
    select 'linkedin', 'linkedin:' || actor, created_at from {{ ref('stg_linkedin__reactions') }} where actor like 'urn:li:person:%'
    union all
    select 'linkedin', 'linkedin:' || actor, created_at from {{ ref('stg_linkedin__comments') }} where actor like 'urn:li:person:%'

    union all
    select 'hubspot', identifier, created_at from {{ ref('int_identity__crm_links') }}

),

final as (

    select
        source,
        identifier,
        min(seen_at) as first_seen_at
    from sightings
    group by source, identifier

)

select * from final
