-- one row per identifier with the person it belongs to: a connected component of the identity
-- graph. person_id is a hash of the component's smallest identifier (no raw value in the id; the
-- serving snapshot salts it again), is_crm_linked says whether a CRM contact is in the component.
with

components as (

    {{ connected_components(ref('int_identity__edges')) }}

),

final as (

    select
        node as identifier,
        {{ dbt.split_part('node', "':'", 1) }} as identifier_kind,
        {{ dbt.hash('component') }} as person_id,
        max(case when node like 'crm:%' then 1 else 0 end) over (partition by component) = 1 as is_crm_linked
    from components

)

select * from final
