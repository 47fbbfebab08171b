-- one row per audience (list) member
with

source as (

    {{ deduplicate(source('raw_mailchimp', 'list_members'), ['list_id', 'id']) }}

),

final as (

    select
        list_id,
        id as member_id,
        {{ normalise_email('email_address') }} as email,
        unique_email_id,
        status,
        timestamp_opt as opted_in_at,
        last_changed as last_changed_at
    from source

)

select * from final
