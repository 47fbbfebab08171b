-- one row per own post x snapshot date: the post's lifetime public counters as observed that day
with

source as (

    {{ deduplicate(source('raw_x', 'posts'), ['post_id', 'snapshot_date']) }}

),

final as (

    select
        post_id,
        snapshot_date,
        observed_at,
        created_at,
        conversation_id,
        like_count,
        reply_count,
        retweet_count as repost_count,
        coalesce(quote_count, 0) as quote_count,  -- optional in X's spec: absent means no quotes reported
        bookmark_count,
        impression_count
    from source

)

select * from final
