-- one row per reply in the conversation of an own post
with

source as (

    {{ deduplicate(source('raw_x', 'replies'), ['reply_id']) }}

),

final as (

    select
        reply_id,
        post_id,
        author_id,
        {{ normalise_handle('author_username') }} as author_username,
        created_at
    from source

)

select * from final
