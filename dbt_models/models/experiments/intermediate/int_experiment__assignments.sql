-- one row per experiment x arm x person seen in that arm, for the experiments whose arms name
-- people (an A/B split's groups, a holdout's treated and held-out members, a web experiment's
-- variants; a variate campaign never says who got which combination). The unit is the person of
-- the identity graph: two contacts or emails of one person are one unit, and a person seen in two
-- arms of one experiment is_in_several_arms (excluded from the units and outcomes of every arm).
-- window_start_date: the first GA4 date (property-local) of the person's outcome window.
with

discovered as (

    select * from {{ ref('int_experiment__discovered') }}

),

persons as (

    select * from {{ ref('int_identity__persons') }}

),

recipients as (

    select * from {{ ref('stg_mailchimp__recipients') }}

),

campaigns as (

    select * from {{ ref('stg_mailchimp__campaigns') }}

),

keyed_campaigns as (

    select c.campaign_id, c.list_id, c.sent_at, s.campaign_key
    from campaigns as c
    inner join {{ ref('int_campaign_spellings') }} as s on s.channel = 'email' and s.spelling = c.tracking_utm
    where c.sent_at is not null and s.campaign_key is not null

),

ab_split as (

    -- Mailchimp's sent-to list names each recipient's group; `winner` (the rest, after the test) is no arm
    select d.experiment_id, r.absplit_group as arm, p.person_id, d.first_exposure_date as window_start_date
    from discovered as d
    inner join recipients as r on r.campaign_id = d.campaign_id
    inner join persons as p on p.identifier = 'email:' || r.email
    where d.design = 'absplit' and r.absplit_group in ('a', 'b')

),

holdout_experiments as (

    select d.*, c.list_id
    from discovered as d
    inner join campaigns as c on c.campaign_id = d.campaign_id
    where d.kind = 'holdout'

),

population as (

    -- the members the campaign's first send could reach on its list: subscribed at that moment
    select distinct h.experiment_id, p.person_id
    from holdout_experiments as h
    inner join {{ ref('stg_mailchimp__list_members') }} as m on m.list_id = h.list_id
    inner join persons as p on p.identifier = 'email:' || m.email
    where (m.opted_in_at is null or m.opted_in_at <= h.started_at)
        and (m.status = 'subscribed' or m.last_changed_at > h.started_at)

),

reached as (

    select distinct h.experiment_id, p.person_id
    from holdout_experiments as h
    inner join keyed_campaigns as c on c.campaign_key = h.campaign_key
    inner join recipients as r on r.campaign_id = c.campaign_id
    inner join persons as p on p.identifier = 'email:' || r.email

),

held_out as (

    select distinct h.experiment_id, p.person_id
    from holdout_experiments as h
    inner join {{ ref('stg_hubspot__holdouts') }} as o on o.holdout_key = h.campaign_key or o.holdout_key = 'all'
    inner join persons as p on p.identifier = 'crm:' || o.contact_id

),

holdout as (

    select u.experiment_id, 'treated' as arm, u.person_id, h.first_exposure_date as window_start_date
    from population as u
    inner join reached as r on r.experiment_id = u.experiment_id and r.person_id = u.person_id
    inner join holdout_experiments as h on h.experiment_id = u.experiment_id
    union all
    select u.experiment_id, 'holdout' as arm, u.person_id, h.first_exposure_date as window_start_date
    from population as u
    inner join held_out as o on o.experiment_id = u.experiment_id and o.person_id = u.person_id
    inner join holdout_experiments as h on h.experiment_id = u.experiment_id

),

web as (

    -- each person's window opens on their first exposure to the experiment, whatever the variant
    select
        'ga4:' || i.experiment_id as experiment_id,
        i.variant_id as arm,
        p.person_id,
        min(i.activity_date) over (partition by i.experiment_id, p.person_id) as window_start_date
    from {{ ref('stg_ga4__user_experiences') }} as i
    inner join persons as p on p.identifier = 'site:' || i.user_id
    where i.user_id is not null

),

seen as (

    select experiment_id, arm, person_id, min(window_start_date) as window_start_date
    from (
        select * from ab_split
        union all
        select * from holdout
        union all
        select * from web
    ) as all_arms
    group by experiment_id, arm, person_id

),

final as (

    select
        experiment_id,
        arm,
        person_id,
        window_start_date,
        count(*) over (partition by experiment_id, person_id) > 1 as is_in_several_arms
    from seen

)

select * from final
