-- one row per campaign x recipient it was sent to
with

source as (

    {{ deduplicate(source('raw_mailchimp', 'recipients'), ['campaign_id', 'email_id']) }}

),

final as (

    select
        campaign_id,
        email_id,
        {{ normalise_email('email_address') }} as email,
        status as delivery_status,
        list_id
    from source

)

select * from final
