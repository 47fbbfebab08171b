-- one row per source of identifiers: how many it holds, how many of those reach a CRM contact, and
-- how many are ambiguous (claimed by several CRM contacts, so they link nothing)
with

identifiers as (

    select distinct source, identifier from {{ ref('int_identity__identifiers') }} where source != 'hubspot'

),

persons as (

    select * from {{ ref('int_identity__persons') }}

),

ambiguous as (

    select distinct identifier from {{ ref('int_identity__crm_links') }} where is_ambiguous

),

sources as (

    select 'ga4' as source
    union all select 'mailchimp'
    union all select 'x'
    union all select 'facebook'
    union all select 'linkedin'

),

counted as (

    select
        s.source,
        count(i.identifier) as identifiers_seen,
        count(case when p.is_crm_linked then i.identifier end) as identifiers_linked_to_crm,
        count(a.identifier) as ambiguous_identifiers
    from sources as s
    left join identifiers as i on i.source = s.source
    left join persons as p on p.identifier = i.identifier
    left join ambiguous as a on a.identifier = i.identifier
    group by s.source

),

final as (

    select
        source,
        identifiers_seen,
        identifiers_linked_to_crm,
        {{ safe_ratio('identifiers_linked_to_crm', 'identifiers_seen') }} as linked_share,
        ambiguous_identifiers
    from counted

)

select * from final
