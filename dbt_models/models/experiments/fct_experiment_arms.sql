-- one row per experiment x arm: its units and, per metric, the counts the statistics need
-- (int_experiment__arm_metrics, one column per metric). A metric the arm cannot measure is NULL,
-- never 0: opens of a variate campaign, clicks of a variate whose combinations share their links,
-- email metrics of holdouts and web experiments.
with

arm_metrics as (

    select * from {{ ref('int_experiment__arm_metrics') }}

),

experiments as (

    select * from {{ ref('dim_experiment') }}

),

pivoted as (

    select
        experiment_id,
        arm,
        max(units) as units,
        max(units_excluded) as units_excluded,
        max(case when metric = 'opened' then value end) as opened_successes,
        max(case when metric = 'clicked' then value end) as clicked_successes,
        max(case when metric = 'web_engaged' then value end) as web_engaged_successes,
        max(case when metric = 'key_event' then value end) as key_event_successes,
        max(case when metric = 'revenue' then value end) as revenue_sum,
        max(case when metric = 'revenue' then sum_sq end) as revenue_sum_sq
    from arm_metrics
    group by experiment_id, arm

),

final as (

    select
        p.experiment_id,
        p.arm,
        p.arm = e.control_arm as is_control,
        p.units,
        p.units_excluded,
        cast(p.opened_successes as bigint) as opened_successes,
        cast(p.clicked_successes as bigint) as clicked_successes,
        cast(p.web_engaged_successes as bigint) as web_engaged_successes,
        cast(p.key_event_successes as bigint) as key_event_successes,
        p.revenue_sum,
        p.revenue_sum_sq,
        e.started_at
    from pivoted as p
    inner join experiments as e on e.experiment_id = p.experiment_id

)

select * from final
