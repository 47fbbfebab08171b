-- one row per organisation post x member (or organisation) that reacted
with

source as (

    {{ deduplicate(source('raw_linkedin', 'reactions'), ['post_id', 'actor']) }}

),

final as (

    select
        post_id,
        actor,
        reaction_type,
        created_at
    from source

)

select * from final
