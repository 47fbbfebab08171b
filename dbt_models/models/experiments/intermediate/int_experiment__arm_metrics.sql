-- one row per experiment x arm x metric it can measure: the counts the statistics read.
--   units            persons in the arm and in no other arm of the experiment (a variate
--                    combination: Mailchimp's recipient count, the only per-combination count)
--   units_excluded   persons seen in this arm and another one: in no arm's units or outcomes
--   value, sum_sq    proportions: units with the outcome (sum_sq = value, a 0/1 outcome squared is
--                    itself); revenue: the sum over units and the sum of their squares
-- Metrics per design:
--   A/B split   opened, clicked (of the campaign, by any of the person's addresses), and the web outcomes
--   variate     clicked only, told apart by the utm_content of each combination's links; without a
--               distinct utm_content per combination clicks cannot be attributed and the arms carry no
--               metric; opens and web outcomes per combination are not measurable (who got which
--               combination is never on the wire)
--   holdout, web experiment   the web outcomes
-- Web outcomes, on GA4 dates (property-local) from the unit's window_start_date through
-- var('experiment_outcome_window_days') - 1 days later, whatever the campaign of the session:
-- web_engaged (an engaged session), key_event (a key event), revenue (purchase revenue).
with

discovered as (

    select * from {{ ref('int_experiment__discovered') }}

),

assignments as (

    select * from {{ ref('int_experiment__assignments') }}

),

persons as (

    select * from {{ ref('int_identity__persons') }}

),

combinations as (

    select * from {{ ref('stg_mailchimp__variate_combinations') }}

),

experiment_campaigns as (

    select * from {{ ref('stg_mailchimp__experiment_campaigns') }}

),

activities as (

    select * from {{ ref('stg_mailchimp__email_activities') }} where action in ('open', 'click')

),

arms as (

    -- every arm of every experiment, also one nobody is in
    select experiment_id, 'a' as arm from discovered where design = 'absplit'
    union all
    select experiment_id, 'b' as arm from discovered where design = 'absplit'
    union all
    select experiment_id, 'treated' as arm from discovered where kind = 'holdout'
    union all
    select experiment_id, 'holdout' as arm from discovered where kind = 'holdout'
    union all
    select distinct a.experiment_id, a.arm
    from assignments as a
    inner join discovered as d on d.experiment_id = a.experiment_id
    where d.kind = 'web_experience'

),

-- person-level arms ---------------------------------------------------------------------------

arm_units as (

    select
        experiment_id,
        arm,
        sum(case when is_in_several_arms then 0 else 1 end) as units,
        sum(case when is_in_several_arms then 1 else 0 end) as units_excluded
    from assignments
    group by experiment_id, arm

),

web_days as (

    select p.person_id, u.report_date as activity_date, max(case when u.is_engaged then 1 else 0 end) as engaged,
        0 as key_events, cast(0 as decimal(18, 6)) as revenue
    from {{ ref('int_web__user_days') }} as u
    inner join persons as p on p.identifier = 'site:' || u.site_user_id
    group by p.person_id, u.report_date
    union all
    -- revenue adds up in decimals: exact, so the sums do not depend on the order rows arrive in
    select p.person_id, v.activity_date, 0 as engaged, v.key_events, cast(v.purchase_revenue as decimal(18, 6)) as revenue
    from {{ ref('stg_ga4__user_value_days') }} as v
    inner join persons as p on p.identifier = 'site:' || v.user_id
    where v.user_id is not null

),

unit_outcomes as (

    select
        a.experiment_id,
        a.arm,
        a.person_id,
        max(case when w.engaged = 1 then 1 else 0 end) as web_engaged,
        max(case when w.key_events > 0 then 1 else 0 end) as key_event,
        cast(coalesce(sum(w.revenue), 0) as decimal(18, 6)) as revenue
    from assignments as a
    left join web_days as w
        on w.person_id = a.person_id
        and w.activity_date >= a.window_start_date
        and w.activity_date < {{ dbt.dateadd('day', var('experiment_outcome_window_days'), 'a.window_start_date') }}
    where not a.is_in_several_arms
    group by a.experiment_id, a.arm, a.person_id

),

email_actions as (

    -- what each person did with an A/B split campaign, by any of their addresses
    select
        d.experiment_id,
        p.person_id,
        max(case when e.action = 'open' then 1 else 0 end) as opened,
        max(case when e.action = 'click' then 1 else 0 end) as clicked
    from discovered as d
    inner join activities as e on e.campaign_id = d.campaign_id
    inner join persons as p on p.identifier = 'email:' || e.email
    where d.design = 'absplit'
    group by d.experiment_id, p.person_id

),

person_arm_metrics as (

    select
        u.experiment_id,
        u.arm,
        sum(coalesce(m.opened, 0)) as opened,
        sum(coalesce(m.clicked, 0)) as clicked,
        sum(u.web_engaged) as web_engaged,
        sum(u.key_event) as key_event,
        sum(u.revenue) as revenue,
        sum(u.revenue * u.revenue) as revenue_sum_sq
    from unit_outcomes as u
    left join email_actions as m on m.experiment_id = u.experiment_id and m.person_id = u.person_id
    group by u.experiment_id, u.arm

),

-- variate combinations ------------------------------------------------------------------------

attributable_campaigns as (

    -- clicks name their combination only where every combination's links carry their own utm_content
    select campaign_id
    from combinations
    group by campaign_id
    having count(distinct utm_content) = count(*)

),

variate_clicks as (

    select distinct
        d.experiment_id,
        k.combination_id as arm,
        p.person_id
    from discovered as d
    inner join attributable_campaigns as t on t.campaign_id = d.campaign_id
    inner join combinations as k on k.campaign_id = d.campaign_id
    inner join activities as e on e.campaign_id = d.campaign_id and e.action = 'click' and e.utm_content = k.utm_content
    inner join persons as p on p.identifier = 'email:' || e.email
    inner join experiment_campaigns as c on c.campaign_id = d.campaign_id
    -- the winning version's send to the rest of the list, after the test, is no arm
    left join {{ ref('stg_mailchimp__recipients') }} as w on w.campaign_id = c.winning_campaign_id and w.email = e.email
    where d.design = 'variate' and w.email is null

),

variate_clickers as (

    select experiment_id, arm, person_id, count(*) over (partition by experiment_id, person_id) > 1 as is_in_several_arms
    from variate_clicks

),

variate_arms as (

    select
        d.experiment_id,
        k.combination_id as arm,
        k.recipients as units,
        coalesce(sum(case when v.is_in_several_arms then 1 else 0 end), 0) as units_excluded,
        case
            when max(t.campaign_id) is not null then coalesce(sum(case when v.is_in_several_arms then 0 else 1 end), 0)
        end as clicked
    from discovered as d
    inner join combinations as k on k.campaign_id = d.campaign_id
    left join attributable_campaigns as t on t.campaign_id = d.campaign_id
    left join variate_clickers as v on v.experiment_id = d.experiment_id and v.arm = k.combination_id
    where d.design = 'variate'
    group by d.experiment_id, k.combination_id, k.recipients

),

-- long rows -----------------------------------------------------------------------------------

arm_counts as (

    select
        a.experiment_id,
        a.arm,
        d.design,
        coalesce(u.units, 0) as units,
        coalesce(u.units_excluded, 0) as units_excluded,
        coalesce(m.opened, 0) as opened,
        coalesce(m.clicked, 0) as clicked,
        coalesce(m.web_engaged, 0) as web_engaged,
        coalesce(m.key_event, 0) as key_event,
        coalesce(m.revenue, 0) as revenue,
        coalesce(m.revenue_sum_sq, 0) as revenue_sum_sq
    from arms as a
    inner join discovered as d on d.experiment_id = a.experiment_id
    left join arm_units as u on u.experiment_id = a.experiment_id and u.arm = a.arm
    left join person_arm_metrics as m on m.experiment_id = a.experiment_id and m.arm = a.arm

),

measures as (

    -- one row per metric an arm of a non-variate design can carry
    select 'opened' as metric, 'proportion' as kind, true as absplit_only
    union all select 'clicked', 'proportion', true
    union all select 'web_engaged', 'proportion', false
    union all select 'key_event', 'proportion', false
    union all select 'revenue', 'continuous', false

),

metrics as (

    -- arm_counts and variate_arms are each read once: Spark recomputes a CTE at every reference
    select
        c.experiment_id,
        c.arm,
        c.units,
        c.units_excluded,
        m.metric,
        m.kind,
        case m.metric
            when 'opened' then cast(c.opened as double)
            when 'clicked' then cast(c.clicked as double)
            when 'web_engaged' then cast(c.web_engaged as double)
            when 'key_event' then cast(c.key_event as double)
            else cast(c.revenue as double)
        end as value,
        case m.metric
            when 'opened' then cast(c.opened as double)
            when 'clicked' then cast(c.clicked as double)
            when 'web_engaged' then cast(c.web_engaged as double)
            when 'key_event' then cast(c.key_event as double)
            else cast(c.revenue_sum_sq as double)
        end as sum_sq
    from arm_counts as c
    cross join measures as m
    where c.design = 'absplit' or not m.absplit_only
    union all
    -- a variate arm: clicked where clicks name their combination, else one row with nothing
    -- measurable (it is still an arm)
    select
        experiment_id,
        arm,
        units,
        units_excluded,
        case when clicked is not null then 'clicked' end,
        case when clicked is not null then 'proportion' end,
        cast(clicked as double),
        cast(clicked as double)
    from variate_arms

),

final as (

    select
        experiment_id,
        arm,
        cast(units as bigint) as units,
        cast(units_excluded as bigint) as units_excluded,
        metric,
        kind,
        value,
        sum_sq
    from metrics

)

select * from final
