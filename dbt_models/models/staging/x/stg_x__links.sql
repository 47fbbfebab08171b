-- one row per link (expanded URL) in an own post or a mention, in the order X lists them
with

latest_posts as (

    {{ deduplicate(source('raw_x', 'posts'), ['post_id'], 'snapshot_date desc, _loaded_at desc') }}

),

mentions as (

    {{ deduplicate(source('raw_x', 'mentions'), ['mention_id']) }}

),

post_links as (

    {{ unnest_list('latest_posts', 'post_id', 'urls') }}

),

mention_links as (

    {{ unnest_list('mentions', 'mention_id', 'urls') }}

),

final as (

    select post_id as x_post_id, 'post' as post_kind, position, element as url from post_links
    union all
    select mention_id as x_post_id, 'mention' as post_kind, position, element as url from mention_links

)

select * from final
