-- one row per reply in an own post's conversation: those X's conversation search found, plus
-- mentions of the account in such a conversation that it missed (recent search reaches back 7 days)
with

posts as (

    select distinct post_id from {{ ref('stg_x__post_snapshots') }}

),

searched as (

    select reply_id, post_id, author_id, created_at from {{ ref('stg_x__replies') }}

),

from_mentions as (

    select m.mention_id as reply_id, m.conversation_id as post_id, m.author_id, m.created_at
    from {{ ref('stg_x__mentions') }} as m
    inner join posts as p on p.post_id = m.conversation_id
    left join searched as s on s.reply_id = m.mention_id
    where s.reply_id is null

),

final as (

    select * from searched
    union all
    select * from from_mentions

)

select * from final
