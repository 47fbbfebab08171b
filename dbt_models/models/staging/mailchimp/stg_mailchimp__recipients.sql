-- one row per campaign x recipient it was sent to.
-- Incremental: a daily run reads only the raw rows loaded since the last build.
{{ config(materialized='incremental', unique_key=['campaign_id', 'email_id'], incremental_strategy=event_incremental_strategy(),
          partition_by=event_partition_by('campaign_id'),
          on_schema_change='append_new_columns') }}

with

new_rows as (

    {{ rows_loaded_since_last_build(source('raw_mailchimp', 'recipients'), 'campaign_id') }}

),

source as (

    {{ deduplicate('new_rows', ['campaign_id', 'email_id']) }}

),

final as (

    select
        campaign_id,
        email_id,
        {{ normalise_email('email_address') }} as email,
        status as delivery_status,
        list_id,
        -- a, b (test groups) or winner (the rest, sent the winning version) for A/B split campaigns
        nullif(lower(trim(absplit_group)), '') as absplit_group,
        _loaded_at
    from source

)

select * from final
