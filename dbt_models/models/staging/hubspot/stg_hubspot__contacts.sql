-- one row per CRM contact, identifiers normalised as the README defines them (trim + lower-case; handles without a leading @)
with

source as (

    {{ deduplicate(source('raw_hubspot', 'contacts'), ['id']) }}

),

final as (

    select
        id as contact_id,
        {{ normalise_email("email") }} as email,
        nullif(trim(site_user_id), '') as site_user_id,
        {{ normalise_handle("x_handle") }} as x_username,
        nullif(trim(facebook_user_id), '') as facebook_user_id,
        created_at,
        updated_at
    from source
    where not coalesce(archived, false)

)

select * from final
