-- one row per link between two identifiers: a CRM contact links its id to its email, site user
-- id, X account (its handle resolved through X's own answers) and Facebook id, except an
-- identifier several contacts claim (is_ambiguous): it links nothing. Every identifier also links
-- to itself, so one linked to nothing is still a node (a person of its own).
with

contact_links as (

    select 'crm:' || contact_id as node_a, identifier as node_b
    from {{ ref('int_identity__crm_links') }}
    where identifier != 'crm:' || contact_id
        and not is_ambiguous

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
