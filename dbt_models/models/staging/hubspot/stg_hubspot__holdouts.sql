-- one row per CRM contact x campaign key it was held out of (HUBSPOT_HOLDOUT_PROPERTY, a multi-select
-- whose values HubSpot joins with ';'); `all` is a universal holdout and stays `all`
with

source as (

    {{ deduplicate(source('raw_hubspot', 'contacts'), ['id']) }}

),

held_out as (

    select id as contact_id, {{ split_list('holdout', ';') }} as holdout_values
    from source
    where not coalesce(archived, false) and holdout is not null

),

values_ as (

    {{ unnest_list('held_out', 'contact_id', 'holdout_values') }}

),

final as (

    select distinct
        contact_id,
        lower({{ trim_whitespace('element') }}) as holdout_key
    from values_
    where {{ trim_whitespace('element') }} != ''

)

select * from final
