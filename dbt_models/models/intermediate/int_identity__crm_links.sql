-- one row per CRM contact x identifier it holds: its own id, normalised email, site user id, X
-- account (the CRM handle resolved to the account with that username in X's answers) and
-- Facebook id. The one place that says what a contact links.
-- is_ambiguous: an identifier other than an email (or the contact's own id) that several contacts
-- claim, e.g. a shared company X handle or a site user id reused by a test account. It links
-- nothing: one bad identifier must never merge strangers. Emails keep linking (a person's
-- duplicate contacts share their address).
with

contacts as (

    select * from {{ ref('stg_hubspot__contacts') }}

),

x_accounts as (

    select * from {{ ref('int_x__accounts') }}

),

links as (

    select contact_id, 'crm:' || contact_id as identifier, created_at from contacts
    union all
    select contact_id, 'email:' || email, created_at from contacts where email is not null
    union all
    select contact_id, 'site:' || site_user_id, created_at from contacts where site_user_id is not null
    union all
    select c.contact_id, 'x:' || a.user_id, c.created_at
    from contacts as c
    inner join x_accounts as a on a.username = c.x_username
    union all
    select contact_id, 'facebook:' || facebook_user_id, created_at from contacts where facebook_user_id is not null

),

claims as (

    select
        contact_id,
        identifier,
        created_at,
        count(*) over (partition by identifier) as claimed_by_contacts
    from links

),

final as (

    select
        contact_id,
        identifier,
        created_at,
        claimed_by_contacts,
        claimed_by_contacts > 1
            and identifier not like 'email:%'
            and identifier not like 'crm:%' as is_ambiguous
    from claims

)

select * from final
