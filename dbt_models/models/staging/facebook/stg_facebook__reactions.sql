-- one row per Page post x person who reacted (no time: observed_at is when we saw it)
with

source as (

    {{ deduplicate(source('raw_facebook', 'reactions'), ['post_id', 'user_id']) }}

),

final as (

    select
        post_id,
        user_id,
        type as reaction_type,
        observed_at
    from source

)

select * from final
