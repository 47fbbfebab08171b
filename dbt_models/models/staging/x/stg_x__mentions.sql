-- one row per post by someone else that names the account
with

source as (

    {{ deduplicate(source('raw_x', 'mentions'), ['mention_id']) }}

),

final as (

    select
        mention_id,
        author_id,
        {{ normalise_handle('author_username') }} as author_username,
        created_at,
        conversation_id,
        in_reply_to_user_id
    from source

)

select * from final
