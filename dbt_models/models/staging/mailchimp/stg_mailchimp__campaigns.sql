-- one row per Mailchimp campaign (a send); tracking_utm is the utm_campaign value Mailchimp appends
with

source as (

    {{ deduplicate(source('raw_mailchimp', 'campaigns'), ['id']) }}

),

final as (

    select
        id as campaign_id,
        web_id,
        type as campaign_type,
        status,
        title,
        subject_line,
        list_id,
        create_time as created_at,
        send_time as sent_at,
        emails_sent,
        tracking_utm,
        variate_combinations,
        variate_winner,
        _loaded_at
    from source

)

select * from final
