-- one row per own post x account that liked it (X returns at most the 100 most recent likers; no time)
with

source as (

    {{ deduplicate(source('raw_x', 'liking_users'), ['post_id', 'user_id']) }}

),

final as (

    select
        post_id,
        user_id,
        {{ normalise_handle('username') }} as username,
        observed_at
    from source

)

select * from final
