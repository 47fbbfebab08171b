-- one row per combination of a variate campaign, in the order Mailchimp lists them. Mailchimp never
-- says which combination a recipient got: a combination is told apart only by the utm_content of its
-- content's links, NULL where no single utm_content belongs to it alone.
with

campaigns as (

    {{ deduplicate(source('raw_mailchimp', 'campaigns'), ['id']) }}

),

variates as (

    select id, variate_settings from campaigns
    where lower(type) = 'variate' and variate_settings is not null

),

combinations as (

    {{ json_array_elements('variates', ['id'], 'variate_settings', '$.combinations') }}

),

contents as (

    {{ deduplicate(source('raw_mailchimp', 'variate_contents'), ['campaign_id', 'content_index']) }}

),

combined as (

    select
        combinations.id as campaign_id,
        {{ json_text('combinations.element', '$.id') }} as combination_id,
        combinations.position as combination_position,
        {{ dbt.safe_cast(json_text('combinations.element', '$.recipients'), api.Column.translate_type('integer')) }} as recipients,
        -- a content whose links carry exactly one utm_content
        case
            when json_array_length(contents.link_utm_contents) = 1 then {{ json_text('contents.link_utm_contents', '$[0]') }}
        end as content_utm_content
    from combinations
    left join contents
        on contents.campaign_id = combinations.id
        and contents.content_index
            = {{ dbt.safe_cast(json_text('combinations.element', '$.content_description'), api.Column.translate_type('integer')) }}

),

final as (

    select
        campaign_id,
        combination_id,
        combination_position,
        recipients,
        -- combinations sharing a content (a subject line test) share its links: none of them is told apart
        case
            when count(*) over (partition by campaign_id, content_utm_content) = 1 then content_utm_content
        end as utm_content
    from combined

)

select * from final
