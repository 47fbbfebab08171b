-- one row per Page post x snapshot date: lifetime counters as observed that day
with

source as (

    {{ deduplicate(source('raw_facebook', 'posts'), ['post_id', 'snapshot_date']) }}

),

final as (

    select
        post_id,
        snapshot_date,
        observed_at,
        created_time as created_at,
        link,
        reactions_total as reaction_count,
        comments_total as comment_count,
        -- Meta omits `shares` when a post has none: absent means 0 here, not unknown
        coalesce(shares_count, 0) as share_count
    from source

)

select * from final
