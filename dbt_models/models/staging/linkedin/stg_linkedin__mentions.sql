-- one row per member's post that mentions the organisation (a notification may repeat: one row per post)
with

source as (

    {{ deduplicate(source('raw_linkedin', 'mentions'), ['mentioning_post'], 'created_at') }}

),

final as (

    select
        mentioning_post,
        notification_id,
        created_at
    from source

)

select * from final
