-- one row per person (a connected component of identifiers). Only a hashed id: no email, handle
-- or user id; the serving snapshot salts the id again with ENGAGEMENT_PII_SALT.
with

persons as (

    select * from {{ ref('int_identity__persons') }}

),

identifiers as (

    select * from {{ ref('int_identity__identifiers') }}

),

channel_of_source as (

    select 'ga4' as source, 'web' as channel
    union all select 'mailchimp', 'email'
    union all select 'x', 'social'
    union all select 'facebook', 'social'
    union all select 'linkedin', 'social'

),

person_channels as (

    select distinct p.person_id, c.channel
    from identifiers as i
    inner join persons as p on p.identifier = i.identifier
    inner join channel_of_source as c on c.source = i.source

),

channel_lists as (

    select person_id, {{ dbt.listagg('channel', "','", 'order by channel') }} as channels
    from person_channels
    group by person_id

),

seen as (

    select
        p.person_id,
        max(case when p.is_crm_linked then 1 else 0 end) = 1 as is_crm_contact,
        count(distinct p.identifier) as identifiers,
        min(i.first_seen_at) as first_seen_at
    from persons as p
    left join identifiers as i on i.identifier = p.identifier
    group by p.person_id

),

final as (

    select
        s.person_id,
        c.channels,
        s.is_crm_contact,
        s.identifiers,
        s.first_seen_at
    from seen as s
    left join channel_lists as c on c.person_id = s.person_id

)

select * from final
