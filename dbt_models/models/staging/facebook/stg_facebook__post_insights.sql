-- one row per Page post x insight metric x snapshot date (lifetime values)
with

source as (

    {{ deduplicate(source('raw_facebook', 'post_insights'), ['post_id', 'metric', 'snapshot_date']) }}

),

final as (

    select
        post_id,
        metric,
        period,
        snapshot_date,
        value
    from source

)

select * from final
