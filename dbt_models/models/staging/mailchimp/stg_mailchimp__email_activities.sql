-- one row per email activity event (open, click, bounce) of one recipient of one campaign.
-- Incremental: the biggest raw table; a daily run reads only the raw rows loaded since the last build.
{{ config(materialized='incremental', unique_key='activity_id', incremental_strategy=event_incremental_strategy(),
          partition_by=event_partition_by('campaign_id'),
          on_schema_change='append_new_columns') }}

with

new_rows as (

    {{ rows_loaded_since_last_build(source('raw_mailchimp', 'email_activity'), 'campaign_id') }}

),

source as (

    {{ deduplicate('new_rows', ['activity_id']) }}

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
        -- the click's utm_content as written in the link (not percent-decoded): tells variate combinations apart
        nullif(regexp_extract(url, '[?&]utm_content=([^&#]*)', 1), '') as utm_content,
        bounce_type,
        _loaded_at
    from source

)

select * from final
