-- one row per email activity event (open, click, bounce) of one recipient of one campaign
with

source as (

    {{ deduplicate(source('raw_mailchimp', 'email_activity'), ['activity_id']) }}

),

final as (

    select
        activity_id,
        campaign_id,
        list_id,
        email_id,
        {{ normalise_email('email_address') }} as email,
        lower(trim(action)) as action,
        timestamp as occurred_at,
        url,
        bounce_type
    from source

)

select * from final
