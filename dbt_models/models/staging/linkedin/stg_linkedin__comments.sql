-- one row per comment on an organisation post; actor is NULL when LinkedIn leaves it out
with

source as (

    {{ deduplicate(source('raw_linkedin', 'comments'), ['comment_id']) }}

),

final as (

    select
        comment_id,
        post_id,
        nullif(trim(actor), '') as actor,
        created_at
    from source

)

select * from final
