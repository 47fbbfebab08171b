-- one row per day: MetricFlow's time spine (metric_time, cumulative and offset metrics). It is
-- published with the marts, so MetricFlow can answer from the serving snapshot alone.
with

days as (

    {{ dbt.date_spine(
        datepart="day",
        start_date="cast('" ~ var('time_spine_start') ~ "' as date)",
        end_date="cast('" ~ var('time_spine_end') ~ "' as date)"
    ) }}

),

final as (

    select cast(date_day as date) as date_day
    from days

)

select * from final
