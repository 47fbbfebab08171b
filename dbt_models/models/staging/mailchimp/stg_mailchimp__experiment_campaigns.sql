-- one row per Mailchimp A/B test campaign: an A/B split (`absplit`, two test groups of split_size
-- percent each) or a variate campaign (combinations on test_size percent), with its test settings
with

source as (

    {{ deduplicate(source('raw_mailchimp', 'campaigns'), ['id']) }}

),

tests as (

    select * from source
    where lower(type) in ('absplit', 'variate')

),

final as (

    select
        id as campaign_id,
        lower(type) as campaign_type,
        tracking_utm,
        list_id,
        send_time,
        case
            when lower(type) = 'absplit'
                then 2 * {{ dbt.safe_cast(json_text('ab_split_opts', '$.split_size'), api.Column.translate_type('integer')) }}
            else {{ dbt.safe_cast(json_text('variate_settings', '$.test_size'), api.Column.translate_type('integer')) }}
        end as test_size_percent,
        case
            when lower(type) = 'absplit' then nullif({{ json_text('ab_split_opts', '$.pick_winner') }}, '')
            else nullif({{ json_text('variate_settings', '$.winner_criteria') }}, '')
        end as winner_criteria,
        case
            when lower(type) = 'variate' then nullif({{ json_text('variate_settings', '$.winning_combination_id') }}, '')
        end as winning_combination_id,
        -- an A/B split sends its winner within the same campaign (group `winner`); a variate through another
        case
            when lower(type) = 'variate' then nullif({{ json_text('variate_settings', '$.winning_campaign_id') }}, '')
        end as winning_campaign_id
    from tests

)

select * from final
