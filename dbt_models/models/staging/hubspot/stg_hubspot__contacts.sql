-- one row per CRM contact, identifiers normalised the way DESIGN.md defines them
with

source as (

    select * from {{ source('raw_hubspot', 'contacts') }}

),

final as (

    select
        id as contact_id,
        nullif(lower(trim(email)), '') as email,
        nullif(trim(site_user_id), '') as site_user_id,
        nullif(lower(ltrim(trim(x_handle), '@')), '') as x_username,
        nullif(trim(facebook_user_id), '') as facebook_user_id,
        created_at,
        updated_at
    from source
    where not coalesce(archived, false)

)

select * from final
