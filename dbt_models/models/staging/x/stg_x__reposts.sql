-- one row per own post x account that reposted it (no time: observed_at is when we saw it)
with

source as (

    {{ deduplicate(source('raw_x', 'reposted_by'), ['post_id', 'user_id']) }}

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
