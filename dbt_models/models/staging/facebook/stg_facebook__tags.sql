-- one row per post by someone else in which the Page is tagged (Meta withholds its author). A user's
-- post id is `<user id>_<post id>`: the marts name the post by its second part only, so no user id
-- reaches them.
with

source as (

    {{ deduplicate(source('raw_facebook', 'tags'), ['tag_post_id']) }}

),

final as (

    select
        tag_post_id,
        coalesce(nullif({{ dbt.split_part('tag_post_id', "'_'", 2) }}, ''), tag_post_id) as mention_id,
        created_time as created_at
    from source

)

select * from final
