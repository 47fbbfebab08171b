-- one row per organisation post x snapshot date: lifetime counters as observed that day
with

source as (

    {{ deduplicate(source('raw_linkedin', 'posts'), ['post_id', 'snapshot_date']) }}

),

final as (

    select
        post_id,
        snapshot_date,
        observed_at,
        created_at,
        link,
        reaction_count,
        comment_count,
        share_count,
        impression_count
    from source

)

select * from final
