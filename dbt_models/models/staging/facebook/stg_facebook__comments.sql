-- one row per comment on a Page post; from_id is NULL when Meta does not reveal the author
with

source as (

    {{ deduplicate(source('raw_facebook', 'comments'), ['comment_id']) }}

),

final as (

    select
        comment_id,
        post_id,
        created_time as created_at,
        nullif(trim(from_id), '') as from_id,
        parent_id
    from source

)

select * from final
