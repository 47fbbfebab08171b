-- one row per Mailchimp campaign (send) x recipient: what the recipient did with it
with

campaigns as (

    select * from {{ ref('stg_mailchimp__campaigns') }}

),

recipients as (

    select * from {{ ref('stg_mailchimp__recipients') }}

),

activities as (

    select * from {{ ref('stg_mailchimp__email_activities') }}

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
        a.first_opened_at
    from sent_to as s
    left join campaigns as c on c.campaign_id = s.campaign_id
    left join per_recipient_activity as a on a.campaign_id = s.campaign_id and a.email = s.email

)

select * from final
