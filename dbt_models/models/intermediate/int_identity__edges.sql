-- one row per link between two identifiers: a CRM contact links its id to its email, site user
-- id, X account (its handle resolved through X's own answers) and Facebook id. Every identifier
-- also links to itself, so one linked to nothing is still a node (a person of its own).
with

contacts as (

    select * from {{ ref('stg_hubspot__contacts') }}

),

x_accounts as (

    select * from {{ ref('int_x__accounts') }}

),

contact_links as (

    select 'crm:' || contact_id as node_a, 'email:' || email as node_b from contacts where email is not null
    union all
    select 'crm:' || contact_id, 'site:' || site_user_id from contacts where site_user_id is not null
    union all
    select 'crm:' || c.contact_id, 'x:' || a.user_id
    from contacts as c
    inner join x_accounts as a on a.username = c.x_username
    union all
    select 'crm:' || contact_id, 'facebook:' || facebook_user_id from contacts where facebook_user_id is not null

),

nodes as (

    select distinct identifier as node_a, identifier as node_b from {{ ref('int_identity__identifiers') }}

),

final as (

    select node_a, node_b from contact_links
    union
    select node_a, node_b from nodes

)

select * from final
