-- one row per X username seen in X's own answers, with the account id it belongs to
-- (the most recently seen one, should a username have moved between accounts)
with

sightings as (

    select user_id, username, observed_at as seen_at from {{ ref('stg_x__likes') }}
    union all
    select user_id, username, observed_at as seen_at from {{ ref('stg_x__reposts') }}
    union all
    select author_id as user_id, author_username as username, created_at as seen_at from {{ ref('stg_x__replies') }}
    union all
    select author_id as user_id, author_username as username, created_at as seen_at from {{ ref('stg_x__mentions') }}

),

final as (

    select username, user_id
    from (
        select
            username,
            user_id,
            row_number() over (partition by username order by seen_at desc, user_id) as sighting_rank
        from sightings
        where username is not null and user_id is not null
    ) as ranked
    where sighting_rank = 1

)

select * from final
