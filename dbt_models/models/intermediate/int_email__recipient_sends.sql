-- one row per Mailchimp campaign (send) x recipient: what the recipient did with it.
-- Incremental by campaign: a campaign with any row newer than this table is recomputed whole
-- (its rows depend on nothing else), the others are kept; a daily run touches the lookback's sends.
{{ config(materialized='incremental', unique_key='campaign_id', incremental_strategy=event_incremental_strategy(),
          partition_by=event_partition_by('campaign_id'),
          on_schema_change='append_new_columns') }}

with

all_campaigns as (

    select * from {{ ref('stg_mailchimp__campaigns') }}

),

all_recipients as (

    select * from {{ ref('stg_mailchimp__recipients') }}

),

all_activities as (

    select * from {{ ref('stg_mailchimp__email_activities') }}

),

changed_campaigns as (

    select campaign_id, max(_loaded_at) as _loaded_at
    from (
        select campaign_id, _loaded_at from all_campaigns
        union all
        select campaign_id, _loaded_at from all_recipients
        union all
        select campaign_id, _loaded_at from all_activities
    ) as contributing_rows
    group by campaign_id
    {{ loaded_since_last_build('max(_loaded_at)', 'having') }}

),

campaigns as (

    select * from all_campaigns where campaign_id in (select campaign_id from changed_campaigns)

),

recipients as (

    select * from all_recipients where campaign_id in (select campaign_id from changed_campaigns)

),

activities as (

    select * from all_activities where campaign_id in (select campaign_id from changed_campaigns)

),

per_recipient_activity as (

    select
        campaign_id,
        email,
        max(case when action = 'open' then 1 else 0 end) = 1 as opened,
        max(case when action = 'click' then 1 else 0 end) = 1 as clicked,
        max(case when action = 'bounce' then 1 else 0 end) = 1 as bounced,
        min(case when action = 'open' then occurred_at end) as first_opened_at
    from activities
    group by campaign_id, email

),

sent_to as (

    -- the sent-to list, plus anyone with activity the list misses (a recipient is a recipient)
    select campaign_id, email from recipients where email is not null
    union
    select campaign_id, email from per_recipient_activity where email is not null

),

final as (

    select
        s.campaign_id,
        c.list_id,
        c.sent_at,
        s.email,
        coalesce(a.opened, false) as opened,
        coalesce(a.clicked, false) as clicked,
        coalesce(a.bounced, false) as bounced,
        a.first_opened_at,
        w._loaded_at
    from sent_to as s
    left join campaigns as c on c.campaign_id = s.campaign_id
    left join per_recipient_activity as a on a.campaign_id = s.campaign_id and a.email = s.email
    inner join changed_campaigns as w on w.campaign_id = s.campaign_id

)

select * from final
