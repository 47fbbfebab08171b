-- one row per sent campaign: Mailchimp's own report summary, kept for reconciliation
with

source as (

    {{ deduplicate(source('raw_mailchimp', 'reports'), ['campaign_id']) }}

),

final as (

    select
        campaign_id,
        list_id,
        send_time as sent_at,
        emails_sent,
        hard_bounces,
        soft_bounces,
        syntax_errors,
        opens_total,
        unique_opens,
        open_rate,
        proxy_excluded_opens as human_opens_total,
        proxy_excluded_unique_opens as human_unique_opens,
        proxy_excluded_open_rate as human_open_rate,
        clicks_total,
        unique_clicks as unique_link_clicks,
        unique_subscriber_clicks,
        click_rate,
        unsubscribed as unsubscribes,
        last_open as last_opened_at,
        last_click as last_clicked_at,
        observed_at
    from source

)

select * from final
