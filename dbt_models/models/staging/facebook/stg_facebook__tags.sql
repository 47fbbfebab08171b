-- one row per post by someone else in which the Page is tagged (Meta withholds its author)
with

source as (

    {{ deduplicate(source('raw_facebook', 'tags'), ['tag_post_id']) }}

),

final as (

    select
        tag_post_id,
        created_time as created_at
    from source

)

select * from final
